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
from .colour import RGB_TO_GREY
from .ops._checks import check_finite_scalar, check_int


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> [B, 1, H, W] with MATLAB's rgb2gray weights; grey passes through."""
    if x.shape[1] == 1:
        return x
    # Python-scalar weights: no host-to-device copy, so this can be captured in a CUDA graph
    r, g, b = RGB_TO_GREY
    return torch.add(torch.add(x[:, 0:1] * r, x[:, 1:2], alpha=g), x[:, 2:3], alpha=b)


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


def liu_postprocess(scores: torch.Tensor, a: torch.Tensor, b: torch.Tensor, patch: int = 16, stride: int = 2,
                    area_ratio: float = 0.01, radius: int = 8, eps: float = 0.1):
    r"""Liu et al.'s post-processing, from a score map to the fused image, on CPU or CUDA.

    scores -> focus map (:func:`mfif.ops.patch_mean`, softmax fused) -> threshold
    0.5 -> :func:`mfif.ops.remove_small_regions` (both polarities, regions under
    ``area_ratio * H * W`` pixels) -> :func:`mfif.ops.guided_filter` of the
    decision map guided by the grey initial fusion -> weighted fusion of the
    sources. On CUDA every step is a kernel queued on the current stream with
    no host synchronisation and no host-to-device copy, so the whole chain can
    be captured in a CUDA graph (``torch.cuda.graph``) and replayed; the steps
    after the small-region removal are one fused kernel there
    (``mfif::_liu_fusion``) unless gradients with respect to ``a`` or ``b``
    are needed.

    Args:
        scores: ``[B, h, w]`` probabilities that ``a`` is in focus, or
            ``[B, 2, h, w]`` logits (channel 0: ``a`` is in focus).
        a, b: the sources ``[B, C, H, W]`` (C = 1 or 3), float in [0, 1], on
            the device and with the dtype of ``scores``.
        patch, stride: the score map's window geometry (Liu: 16, 2).
        area_ratio: small-region threshold as a fraction of the image (Liu: 0.01).
        radius, eps: guided filter parameters (Liu: 8, 0.1).

    Returns:
        ``(fused, decision, weights)``: fused ``[B, C, H, W]``, the binary
        decision map after small-region removal ``[B, H, W]`` (bool, True where
        ``a`` is chosen) and the guided-filtered weights ``[B, H, W]``.

    Examples:
        >>> a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
        >>> fused, decision, weights = liu_postprocess(torch.randn(1, 2, 25, 25), a, b)
        >>> fused.shape, decision.shape
        (torch.Size([1, 3, 64, 64]), torch.Size([1, 64, 64]))
    """
    if a.dim() != 4 or a.shape != b.shape or a.shape[1] not in (1, 3):
        raise ValueError(f"a and b must both be [B, 1 or 3, H, W] of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if a.dtype != b.dtype or a.device != b.device:
        raise ValueError(f"a ({a.dtype}, {a.device}) and b ({b.dtype}, {b.device}) must share dtype and device")
    _, _, H, W = a.shape
    focus = ops.patch_mean(scores, (H, W), patch=patch, stride=stride)
    return decision_fusion(focus > 0.5, a, b, area_ratio=area_ratio, radius=radius, eps=eps)


def decision_fusion(chosen: torch.Tensor, a: torch.Tensor, b: torch.Tensor, area_ratio: float = 0.01,
                    radius: int = 8, eps: float = 0.1):
    """The second half of :func:`liu_postprocess`, from a full-size binary choice ``[B, H, W]`` (True where
    ``a`` is sharper): small regions removed, the decision smoothed by the guided filter, the sources fused.

    Any method with a per-pixel decision map (e.g. ``hf-seg-pp``) shares it, with the fused CUDA
    kernel. Returns ``(fused, decision, weights)`` as :func:`liu_postprocess` does.
    """
    _, _, H, W = a.shape
    decision = ops.remove_small_regions(chosen, math.ceil(area_ratio * H * W), connectivity=8)
    differentiable = torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)
    if a.device.type == "cuda" and not differentiable and ops._liu_fusion.has_cuda_kernel():
        # one fused op for the rest: the guide and the initial fusion are never stored
        radius = check_int(radius, "radius", 0)
        eps = check_finite_scalar(eps, "eps", positive=True)
        fused, weights = torch.ops.mfif._liu_fusion(decision, a, b, radius, eps)
        return fused, decision, weights
    d = decision.to(a.dtype)[:, None]
    initial = torch.lerp(b, a, d)  # d*a + (1-d)*b, exact for d in {0, 1}
    weights = ops.guided_filter(to_grey(initial), d, radius, eps)
    fused = torch.lerp(b, a, weights)  # weights*a + (1-weights)*b
    return fused, decision, weights[:, 0]


def decision_postprocess(scores: torch.Tensor, a: torch.Tensor, b: torch.Tensor, patch: int = 16, stride: int = 2,
                         area_ratio: float = 0.01, radius: int = 8, eps: float = 0.1):
    """Liu et al.'s post-processing (the name the CLI and methods use): see :func:`liu_postprocess`."""
    return liu_postprocess(scores, a, b, patch=patch, stride=stride, area_ratio=area_ratio, radius=radius, eps=eps)


def equalize_exposure(a: torch.Tensor, b: torch.Tensor, flat: float = 0.3, low: float = 0.05, high: float = 0.95,
                      max_ratio: float = 1.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring two sources to a common exposure: one gain per source, their geometric mean as the target.

    Where a scene is flat, defocus changes nothing, so there two frames of it differ only by exposure
    (flicker, focus breathing, a changed aperture). Without matching, a fusion that switches between
    sources at the focus border shows that difference as a step. The grey sources are reduced 4x
    (when both sides are at least 64 pixels) and averaged over 5x5 windows; the gain ratio is the
    median of their ratio over the flattest ``flat`` share of the windows (the lowest local standard
    deviation in both) among those neither dark nor bright: near edges, defocus moves light from one
    side to the other and the ratio says nothing about exposure. ``a`` is scaled by
    ``sqrt(ratio)`` and ``b`` by its inverse, and the results are clipped to [0, 1]. A pair whose
    ratio exceeds ``max_ratio`` (or with fewer than 1 % usable windows) is returned unchanged: that is
    not an exposure difference. Each batch item gets its own gains.

    Args:
        a, b: sources ``[B, C, H, W]``, float in [0, 1], one device.
        flat: the share of usable windows, the flattest, that the ratio is taken over.
        low, high: the usable range of the windows' mean grey values.
        max_ratio: the largest ratio treated as exposure.

    Returns:
        ``(a, b)`` scaled: new tensors, or the inputs themselves where no gain applies (the inputs
        are never modified).

    Examples:
        >>> a = torch.rand(1, 3, 64, 64) * 0.5 + 0.25
        >>> x, y = equalize_exposure(a, 1.04 * a)
        >>> round(float(y.mean() / x.mean()), 4)
        1.0
    """
    stat = torch.float64 if a.dtype == torch.float64 else torch.float32  # statistics of half inputs in float32
    if min(a.shape[-2:]) >= 64:  # reduce first: one pass over the full-resolution sources
        ga, gb = (F.avg_pool2d(x, 4).to(stat).mean(1, keepdim=True) for x in (a, b))
    else:
        ga, gb = a.to(stat).mean(1, keepdim=True), b.to(stat).mean(1, keepdim=True)
    ma, mb = ops.box_filter(ga, 2), ops.box_filter(gb, 2)
    spread = torch.maximum(ops.box_filter(ga * ga, 2) - ma * ma, ops.box_filter(gb * gb, 2) - mb * mb)
    gains = []
    for la, lb, s in zip(ma.flatten(1), mb.flatten(1), spread.flatten(1)):
        usable = (la > low) & (la < high) & (lb > low) & (lb < high)
        ratio = 1.0
        n = int(usable.sum())
        if n >= max(1, 0.01 * usable.numel()):
            # the flattest share: kthvalue, as torch.quantile refuses inputs above 2^24 values
            limit = s[usable].kthvalue(max(1, int(flat * n))).values
            use = usable & (s <= limit)
            ratio = float((lb[use] / la[use]).median())
        gains.append(math.sqrt(ratio) if 1 / max_ratio <= ratio <= max_ratio else 1.0)
    if all(g == 1.0 for g in gains):
        return a, b
    g = torch.tensor(gains, dtype=a.dtype, device=a.device).view(-1, *([1] * (a.dim() - 1)))
    return (a * g).clamp_(0, 1), (b / g).clamp_(0, 1)
