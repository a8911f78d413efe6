"""Pure-PyTorch reference of ``mfif::window_argmin``."""
from __future__ import annotations

import torch


def window_argmin(queries: torch.Tensor, candidates: torch.Tensor, cand_index: torch.Tensor) -> torch.Tensor:
    """For each query ``m``, the ``k`` minimising ``|candidates[cand_index[m, k]] - queries[m]|^2`` (first on ties)."""
    dist = (candidates[cand_index] - queries[:, None, :]).pow(2).sum(-1)
    return dist.argmin(1)
