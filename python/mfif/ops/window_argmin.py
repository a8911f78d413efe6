"""Nearest neighbours among given candidates (``torch.ops.mfif.window_argmin``)."""
from __future__ import annotations

import torch

from ._checks import check_float, check_rank, check_same_device, check_tensor

__all__ = ["window_argmin"]


def window_argmin(queries: torch.Tensor, candidates: torch.Tensor, cand_index: torch.Tensor,
                  chunk: int = 4096) -> torch.Tensor:
    r"""For each query row, the nearest of its candidate rows (squared Euclidean distance).

    ``out[m] = argmin_k |candidates[cand_index[m, k]] - queries[m]|^2``, the
    first ``k`` on ties (the column-major order of MATLAB's ``find`` when the
    candidates of a window are listed column by column). The matching step of
    dense-SIFT fusion (Liu, Liu, Wang 2015): each query is a pixel's
    descriptor, its candidates the descriptors of a window of the other image.
    On the CPU a C++ kernel computes the distances without gathering the
    candidates; elsewhere the pure-PyTorch form runs in chunks of ``chunk`` queries.
    Not differentiable.

    Args:
        queries: ``[M, D]`` float32 or float64, finite.
        candidates: ``[N, D]``, same dtype and device.
        cand_index: ``[M, K]`` int64, rows of ``candidates`` (0..N-1), ``K >= 1``.
        chunk: queries per chunk on devices without the kernel.

    Returns:
        ``[M]`` int64 tensor of positions ``k`` in ``0..K-1``.

    Examples:
        >>> q = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> c = torch.tensor([[1.0, 1.0], [0.0, 0.1], [0.0, 0.0]])
        >>> window_argmin(q, c, torch.tensor([[0, 1, 2], [1, 2, 0]]))
        tensor([2, 2])
    """
    check_float(queries, "queries")
    check_rank(queries, "queries", (2,), "[M, D]")
    check_tensor(candidates, "candidates")
    check_rank(candidates, "candidates", (2,), "[N, D]")
    check_tensor(cand_index, "cand_index")
    check_rank(cand_index, "cand_index", (2,), "[M, K]")
    if candidates.dtype != queries.dtype:
        raise TypeError(f"candidates must have the dtype of queries ({queries.dtype}), got {candidates.dtype}")
    if cand_index.dtype != torch.int64:
        raise TypeError(f"cand_index must be int64, got {cand_index.dtype}; convert it with cand_index.long()")
    if candidates.shape[1] != queries.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} values per row but candidates have {candidates.shape[1]}")
    if cand_index.shape[0] != queries.shape[0] or cand_index.shape[1] < 1:
        raise ValueError(f"cand_index must be [M, K] with M = {queries.shape[0]} (the queries) and K >= 1, "
                         f"got {tuple(cand_index.shape)}")
    check_same_device(queries, "queries", candidates, "candidates")
    check_same_device(queries, "queries", cand_index, "cand_index")
    if queries.shape[0] == 0:
        return cand_index.new_empty((0,))
    if cand_index.numel() and (int(cand_index.min()) < 0 or int(cand_index.max()) >= candidates.shape[0]):
        raise ValueError(f"cand_index holds rows outside candidates (0..{candidates.shape[0] - 1})")
    if queries.device.type == "cpu":
        return torch.ops.mfif.window_argmin(queries, candidates, cand_index)
    from ..reference.window_argmin import window_argmin as reference
    return torch.cat([reference(queries[s:s + chunk], candidates, cand_index[s:s + chunk])
                      for s in range(0, queries.shape[0], chunk)])


@torch.library.register_fake("mfif::window_argmin")
def _window_argmin_fake(queries, candidates, cand_index):
    return cand_index.new_empty((queries.shape[0],))
