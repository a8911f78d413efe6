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

    Every set pixel starts with its raster index + 1 as label; labels then take
    the minimum over neighbours until nothing changes, so each region ends with
    the label of its first pixel in raster order. (A pointer-jumping step, "take
    the label of the pixel my label names", only speeds that up: that pixel is in
    the same region and has a label no larger.) Regions are then renumbered
    1, 2, ... in the order of those first pixels.
    """
    squeeze = mask.dim() == 2
    m = mask[None] if squeeze else mask
    B, H, W = m.shape
    fill = H * W + 1  # larger than every label
    index = torch.arange(1, H * W + 1, device=m.device).view(1, H, W).expand(B, H, W)
    lab = torch.where(m, index, fill)
    while True:
        new = torch.where(m, _neighbour_min(lab, connectivity, fill), fill)
        named = new.reshape(B, -1).clamp(max=H * W).sub(1)  # the pixel each label names
        jumped = torch.gather(new.reshape(B, -1), 1, named).view(B, H, W)
        new = torch.where(m, torch.minimum(new, jumped), fill)
        if torch.equal(new, lab):
            break
        lab = new
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
