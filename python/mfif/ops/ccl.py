"""Connected components of binary masks and MATLAB-style small-region removal."""
from __future__ import annotations

import torch

from ._checks import check_bool, check_device, check_int, check_nonempty, check_rank

_LAYOUT = "[H,W] or [B,H,W]"


def _check_mask(mask: torch.Tensor, op: str) -> None:
    check_bool(mask, "mask")
    check_rank(mask, "mask", (2, 3), _LAYOUT)
    check_nonempty(mask, "mask")
    check_device(mask, "mask")
    # A CUDA build of mfif may not have a CUDA kernel for this op (yet).
    if mask.device.type == "cuda" and not torch._C._dispatch_has_kernel_for_dispatch_key(f"mfif::{op}", "CUDA"):
        raise RuntimeError(
            f"mask is on {mask.device}, but mfif has no CUDA kernel for {op}; move it with mask.cpu()"
        )


def _check_connectivity(connectivity: int) -> int:
    if isinstance(connectivity, bool) or not isinstance(connectivity, int):
        raise TypeError(f"connectivity must be an int, 4 or 8, got {type(connectivity).__name__}")
    if connectivity not in (4, 8):
        raise ValueError(
            f"connectivity must be 4 (edge neighbours) or 8 (edge and corner neighbours), got {connectivity}"
        )
    return connectivity


def connected_components(mask: torch.Tensor, connectivity: int = 8) -> torch.Tensor:
    r"""Label the connected regions of set pixels of a binary mask.

    Regions are numbered 1, 2, ... in the raster order (row by row, left to
    right) of their first pixel, exactly like ``scipy.ndimage.label``; each
    item of a batch is numbered from 1. Deterministic, whatever the number of
    threads. Not differentiable.

    Args:
        mask: bool tensor of shape :math:`(H, W)` or :math:`(B, H, W)`.
        connectivity: 4 (pixels touching by an edge are connected) or 8 (by
            an edge or a corner).

    Returns:
        int32 tensor of the shape of ``mask``: 0 on unset pixels, the region's
        number on set pixels.

    Examples:
        >>> mask = torch.tensor([[1, 0, 1],
        ...                      [0, 1, 0]], dtype=torch.bool)
        >>> connected_components(mask, connectivity=8)
        tensor([[1, 0, 1],
                [0, 1, 0]], dtype=torch.int32)
        >>> connected_components(mask, connectivity=4)
        tensor([[1, 0, 2],
                [0, 3, 0]], dtype=torch.int32)
    """
    _check_mask(mask, "connected_components")
    _check_connectivity(connectivity)
    return torch.ops.mfif.connected_components(mask, connectivity)


def remove_small_regions(mask: torch.Tensor, min_area: int, connectivity: int = 8) -> torch.Tensor:
    r"""Remove small regions of ones, then fill small regions of zeros.

    The consistency verification of Liu et al. 2017 (MATLAB's
    ``D = bwareaopen(D, a); D = 1 - bwareaopen(1 - D, a)``): regions of set
    pixels with fewer than ``min_area`` pixels are cleared, then, in that
    result, regions of unset pixels with fewer than ``min_area`` pixels are set.
    Both passes use the same connectivity. Deterministic, whatever the number
    of threads. Not differentiable.

    Args:
        mask: bool tensor of shape :math:`(H, W)` or :math:`(B, H, W)`.
        min_area: regions with fewer pixels than this are removed; 0 and 1
            change nothing.
        connectivity: 4 (pixels touching by an edge are connected) or 8 (by
            an edge or a corner), as in MATLAB's ``bwareaopen(BW, P, conn)``
            (whose default is 8).

    Returns:
        bool tensor of the shape of ``mask``.

    Examples:
        >>> mask = torch.tensor([[1, 1, 1, 0],
        ...                      [1, 0, 1, 0],
        ...                      [1, 1, 1, 0],
        ...                      [0, 0, 0, 1]], dtype=torch.bool)
        >>> remove_small_regions(mask, min_area=2, connectivity=4).int()
        tensor([[1, 1, 1, 0],
                [1, 1, 1, 0],
                [1, 1, 1, 0],
                [0, 0, 0, 0]], dtype=torch.int32)
        >>> remove_small_regions(mask, min_area=2, connectivity=8).int()
        tensor([[1, 1, 1, 0],
                [1, 1, 1, 0],
                [1, 1, 1, 0],
                [0, 0, 0, 1]], dtype=torch.int32)
    """
    _check_mask(mask, "remove_small_regions")
    check_int(min_area, "min_area", 0)
    _check_connectivity(connectivity)
    return torch.ops.mfif.remove_small_regions(mask, min_area, connectivity)


@torch.library.register_fake("mfif::connected_components")
def _connected_components_fake(mask: torch.Tensor, connectivity: int) -> torch.Tensor:
    return mask.new_empty(mask.shape, dtype=torch.int32)


@torch.library.register_fake("mfif::remove_small_regions")
def _remove_small_regions_fake(mask: torch.Tensor, min_area: int, connectivity: int) -> torch.Tensor:
    return mask.new_empty(mask.shape)
