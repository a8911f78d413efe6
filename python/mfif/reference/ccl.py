"""Pure-PyTorch references of the connected-component ops (slow, obviously right)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_OFFSETS_4 = [(-1, 0), (1, 0), (0, -1), (0, 1)]
_OFFSETS_8 = _OFFSETS_4 + [(-1, -1), (-1, 1), (1, -1), (1, 1)]


def _neighbour_min(lab: torch.Tensor, connectivity: int, fill: int) -> torch.Tensor:
    """Minimum of each pixel's label and its neighbours' ([B,H,W], outside = fill)."""
    H, W = lab.shape[-2:]
    padded = F.pad(lab, (1, 1, 1, 1), value=fill)
    out = lab
    for dy, dx in _OFFSETS_8 if connectivity == 8 else _OFFSETS_4:
        out = torch.minimum(out, padded[:, 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W])
    return out


def connected_components(mask: torch.Tensor, connectivity: int = 8) -> torch.Tensor:
    """Labels of the connected regions of ``mask`` (see :func:`mfif.ops.connected_components`).

    Every set pixel p starts with label p + 1 (its raster index + 1). A label
    always names a pixel (label - 1) of the same region whose own label is no
    larger, and labels only decrease: each round, a pixel takes the smallest
    label around it (itself included), the pixel its label names takes that
    too ("hooking"), and labels then follow the pixels they name until that
    changes nothing ("pointer jumping"). When a round changes nothing, no pixel
    has a smaller label next to it, so each region holds a single label: that of
    its first pixel in raster order. Regions are then renumbered 1, 2, ... in the
    order of those first pixels.
    """
    squeeze = mask.dim() == 2
    m = mask[None] if squeeze else mask
    B, H, W = m.shape
    fill = H * W + 1  # larger than every label
    index = torch.arange(1, H * W + 1, device=m.device).view(1, H, W).expand(B, H, W)
    lab = torch.where(m, index, fill).reshape(B, -1)
    fg = m.reshape(B, -1)

    def named(labels):  # the pixel each label names (unset pixels: any pixel)
        return labels.clamp(max=H * W) - 1

    while True:
        seen = torch.where(fg, _neighbour_min(lab.view(B, H, W), connectivity, fill).reshape(B, -1), fill)
        new = seen.scatter_reduce(1, named(lab), seen, reduce="amin")
        while True:
            jumped = torch.where(fg, torch.gather(new, 1, named(new)), fill)
            if torch.equal(jumped, new):
                break
            new = jumped
        if torch.equal(new, lab):
            break
        lab = new
    lab = lab.view(B, H, W)
    out = torch.zeros(m.shape, dtype=torch.int32, device=m.device)
    for b in range(B):
        first_pixels, number = torch.unique(lab[b][m[b]], sorted=True, return_inverse=True)
        out[b][m[b]] = (number + 1).to(torch.int32)
    return out[0] if squeeze else out


def _area_open(mask: torch.Tensor, min_area: int, connectivity: int) -> torch.Tensor:
    """MATLAB's bwareaopen: drop the regions of ones with fewer than min_area pixels."""
    labels = connected_components(mask, connectivity).long()
    keep = torch.zeros_like(mask)
    for b in range(mask.shape[0]):
        area = torch.bincount(labels[b].flatten())
        big = area >= min_area
        big[0] = False  # background
        keep[b] = big[labels[b]]
    return keep


def remove_small_regions(mask: torch.Tensor, min_area: int, connectivity: int = 8) -> torch.Tensor:
    """``D = bwareaopen(D, a); D = 1 - bwareaopen(1 - D, a)`` (see :func:`mfif.ops.remove_small_regions`)."""
    squeeze = mask.dim() == 2
    m = mask[None] if squeeze else mask
    ones_kept = _area_open(m, min_area, connectivity)
    out = ~_area_open(~ones_kept, min_area, connectivity)
    return out[0] if squeeze else out
