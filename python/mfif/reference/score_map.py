"""Reference of :func:`mfif.ops.score_map`: ``conv2d`` + ``softmax`` + reference ``patch_mean``."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .patch_mean import patch_mean


def score_map(fa: torch.Tensor, fb: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
              size: Optional[Sequence[int]] = None, patch: int = 16, stride: int = 2) -> torch.Tensor:
    """The folded head of Liu et al. 2017 written out: two-channel logits, softmax, optional focus map.

    Args and returns as :func:`mfif.ops.score_map`.

    Examples:
        >>> fa = fb = torch.zeros(1, 4, 10, 10)
        >>> score_map(fa, fb, torch.zeros(2, 8, 8, 8)).shape
        torch.Size([1, 3, 3])
    """
    logits = F.conv2d(torch.cat([fa, fb], 1), weight, bias)
    probs = torch.softmax(logits, dim=1)[:, 0]
    if size is None:
        return probs
    return patch_mean(probs, tuple(size), patch, stride)
