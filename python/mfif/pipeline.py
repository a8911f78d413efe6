"""The decision-map post-processing of Liu et al. 2017 on mfif's ops.

scores -> focus map (patch_mean) -> threshold 0.5 -> small-region removal ->
guided filter with the grey initial fusion as guide -> weighted fusion. The
score map may come from the CNN of Liu et al. or from a hand-made focus
measure (:func:`focus_measure_scores`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import ops

# ITU-R BT.601 weights as in MATLAB's rgb2gray
RGB_TO_GREY = (0.298936021293776, 0.587043074451121, 0.114020904255103)


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> [B, 1, H, W] with MATLAB's rgb2gray weights; grey passes through."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(RGB_TO_GREY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def focus_measure_scores(a_grey: torch.Tensor, b_grey: torch.Tensor, patch: int = 16, stride: int = 2,
                         sharpness: float = 50.0) -> torch.Tensor:
    """A hand-made stand-in for the CNN's score map: P(a is sharper) per patch.

    Local energy of a high-pass (image minus its 3x3 box mean) summed over the
    patch at every stride position, compared between the sources through a
    logistic of their log-ratio. Output ``[B, h, w]`` with Liu's layout
    ``h = ceil(H/stride) - (patch/stride - 1)``.
    """
    def energy(x):
        hp = x - ops.box_filter(x, 1)
        return F.avg_pool2d(hp * hp, patch, stride=stride, ceil_mode=True)

    ea, eb = energy(a_grey), energy(b_grey)
    return torch.sigmoid(sharpness * (torch.log(ea + 1e-12) - torch.log(eb + 1e-12)) / 10)[:, 0]


def decision_postprocess(scores: torch.Tensor, a: torch.Tensor, b: torch.Tensor, patch: int = 16, stride: int = 2,
                         area_ratio: float = 0.01, radius: int = 8, eps: float = 0.1):
    """Liu et al.'s post-processing: from a score map to the fused image.

    Args:
        scores: ``[B, h, w]`` probabilities that ``a`` is in focus, or ``[B, 2, h, w]`` logits.
        a, b: the sources ``[B, C, H, W]`` (C = 1 or 3), float in [0, 1].

    Returns:
        ``(fused, decision, weights)``: fused ``[B, C, H, W]``, the binary decision map
        after small-region removal ``[B, H, W]`` (bool, True where ``a`` is chosen) and
        the guided-filtered weight map ``[B, H, W]``.
    """
    B, _, H, W = a.shape
    focus = ops.patch_mean(scores, (H, W), patch=patch, stride=stride)
    decision = ops.remove_small_regions(focus > 0.5, math.ceil(area_ratio * H * W), connectivity=8)
    d = decision.to(a.dtype)[:, None]
    initial = to_grey(d * a + (1 - d) * b)
    weights = ops.guided_filter(initial, d, radius, eps)
    fused = weights * a + (1 - weights) * b
    return fused, decision, weights[:, 0]
