"""Reference of :func:`mfif.ops.patch_mean`: ``F.fold`` of the expanded scores / ``F.fold`` of ones."""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F


def patch_mean(scores: torch.Tensor, size: Tuple[int, int], patch: int = 16, stride: int = 2) -> torch.Tensor:
    r"""Focus map of Liu et al. 2017, the slow and obviously right way.

    Every score is copied into each pixel of its ``patch x patch`` window
    (top-left corner ``(i*stride, j*stride)``) with :func:`torch.nn.functional.fold`,
    which sums the overlapping copies; the same fold of ones counts them. The
    folded image is ``(h-1)*stride + patch`` pixels high, so windows that reach
    past the image are simply cropped away with the extra pixels.

    Args:
        scores: probabilities ``[h, w]`` or ``[B, h, w]``, or two-channel logits
            ``[B, 2, h, w]`` whose probability is ``softmax(scores, dim=1)[:, 0]``
            (channel 0: the first source is in focus).
        size: ``(H, W)`` of the image.
        patch: window size in pixels.
        stride: distance between neighbouring windows in pixels.

    Returns:
        the focus map ``[H, W]`` or ``[B, H, W]``.

    Examples:
        >>> patch_mean(torch.ones(2, 2), (4, 4), patch=2, stride=2)
        tensor([[1., 1., 1., 1.],
                [1., 1., 1., 1.],
                [1., 1., 1., 1.],
                [1., 1., 1., 1.]])
    """
    unbatched = scores.dim() == 2
    if unbatched:
        scores = scores.unsqueeze(0)
    probs = torch.softmax(scores, dim=1)[:, 0] if scores.dim() == 4 else scores
    batch, h, w = probs.shape
    height, width = size
    full = ((h - 1) * stride + patch, (w - 1) * stride + patch)
    cols = probs.reshape(batch, 1, h * w).expand(batch, patch * patch, h * w)
    summed = F.fold(cols, full, kernel_size=patch, stride=stride)
    count = F.fold(torch.ones_like(cols[:1]), full, kernel_size=patch, stride=stride)
    out = (summed / count)[:, 0, :height, :width]
    return out[0] if unbatched else out
