"""Objective fusion metrics that reproduce the MATLAB code of the Liu et al. 2020 survey.

Each metric takes grey float64 tensors ``[B, H, W]`` (0..255 scale) and returns
``[B]`` values; :func:`evaluate` takes paths, numpy arrays or tensors, converts
them as the survey did (MATLAB ``rgb2gray`` rounded to uint8) and returns a dict
of the survey's metric names to floats. Every function runs on the device of
its inputs (CPU or CUDA), in float64.

| name | metric | better |
|---|---|---|
| QMI | normalised mutual information (Hossny) | higher |
| QNCIE | nonlinear correlation information entropy (Wang) | higher |
| QG | gradient edge preservation Q^AB/F (Xydeas-Petrovic) | higher |
| QP | phase congruency (Zhao) | higher |
| QE | edge-dependent fusion quality (Piella) | higher |
| QY | SSIM-based (Yang) | higher |
| QCB | perceptual contrast preservation (Chen-Blum) | higher |
| QCV | perceptual regional distortion (Chen-Varshney) | lower |
| QTE | Tsallis mutual information (Cvejic), no survey reference | higher |
| SSIM, PSNR, MAE | against a ground truth, when one is given | higher, higher, lower |

Examples:
    >>> import numpy as np
    >>> from mfif.metrics import evaluate
    >>> a = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    >>> scores = evaluate(a, a, a, metrics=["QMI"])
    >>> round(scores["QMI"], 6)
    2.0
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ._common import as_grey, check_grey
from .chen_blum import qcb
from .chen_varshney import qcv
from .gradient import qg
from .ground_truth import mae, psnr, ssim
from .information import qmi, qncie, qte
from .piella import qe
from .yang import qy
from .zhao import qp

# survey name -> (function(source_a, source_b, fused), higher is better)
METRICS: dict[str, tuple[Callable[..., torch.Tensor], bool]] = {
    "QMI": (qmi, True),
    "QNCIE": (qncie, True),
    "QG": (qg, True),
    "QP": (qp, True),
    "QE": (qe, True),
    "QY": (qy, True),
    "QCB": (qcb, True),
    "QCV": (qcv, False),
    "QTE": (qte, True),
}
# name -> (function(fused, truth), higher is better): only with a ground truth
TRUTH_METRICS: dict[str, tuple[Callable[..., torch.Tensor], bool]] = {
    "SSIM": (ssim, True),
    "PSNR": (psnr, True),
    "MAE": (mae, False),
}
# the survey's eight, in its column order
SURVEY_METRICS = ["QMI", "QNCIE", "QG", "QP", "QE", "QY", "QCB", "QCV"]
# what evaluate computes when metrics=None (plus TRUTH_METRICS when a truth is given)
DEFAULT_METRICS = SURVEY_METRICS + ["QTE"]


def available() -> list[str]:
    """Names :func:`evaluate` accepts (the last three need a ground truth)."""
    return list(METRICS) + list(TRUTH_METRICS)


def higher_is_better(name: str) -> bool:
    """True when larger values of metric ``name`` mean a better fusion."""
    key = _canonical(name)
    return (METRICS.get(key) or TRUTH_METRICS[key])[1]


def _canonical(name: str) -> str:
    key = name.upper()
    if key not in METRICS and key not in TRUTH_METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(available())}")
    return key


def _names(metrics, with_truth: bool) -> list[str]:
    if metrics is None:
        return DEFAULT_METRICS + (list(TRUTH_METRICS) if with_truth else [])
    if isinstance(metrics, str):
        metrics = [metrics]
    names = [_canonical(m) for m in metrics]
    missing = [n for n in names if n in TRUTH_METRICS and not with_truth]
    if missing:
        raise ValueError(f"{', '.join(missing)} compare with a ground truth: pass truth=...")
    return names


def evaluate_grey(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor,
                  metrics: Sequence[str] | None = None, truth: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Batched form of :func:`evaluate` on grey float64 tensors ``[B, H, W]``: name -> ``[B]`` tensor."""
    names = _names(metrics, truth is not None)
    a, b, f = check_grey(source_a, source_b, fused)
    out = {}
    for n in names:
        if n in METRICS:
            out[n] = METRICS[n][0](a, b, f)
        else:
            f2, t = check_grey(f, truth, names=("fused", "truth"))
            out[n] = TRUTH_METRICS[n][0](f2, t)
    return out


def evaluate(source_a, source_b, fused, metrics: Sequence[str] | None = None, truth=None,
             device=None) -> dict[str, float]:
    """Score one fused image against its two sources (and a ground truth, if any).

    Args:
        source_a, source_b, fused: image paths, uint8/uint16 numpy arrays
            (``[H, W]`` or ``[H, W, 3]``, RGB) or tensors (``[H, W]``,
            ``[C, H, W]`` or ``[1, C, H, W]``; uint8, uint16 or float in [0, 1],
            which is quantised to 8 bits as saving would). Colour becomes grey
            with MATLAB's rgb2gray weights, rounded (see :func:`as_grey`). All
            must have the same height and width.
        metrics: names (case-insensitive) from :func:`available`; default
            :data:`DEFAULT_METRICS`, plus SSIM, PSNR and MAE when ``truth`` is given.
        truth: the ground-truth all-in-focus image, same kinds as above.
        device: where to compute (default: CPU, or the tensors' device).

    Returns:
        dict of metric name -> float.

    Raises:
        ValueError: different sizes, unknown metric, bad shapes, NaN in a float image.
        TypeError: unsupported dtype or input type.
        mfif.io.ImageError: a path that cannot be read.
    """
    items = [("source_a", source_a), ("source_b", source_b), ("fused", fused)]
    if truth is not None:
        items.append(("truth", truth))
    imgs = []
    for n, x in items:
        g = as_grey(x, n, device)
        if g.shape[0] != 1:
            raise ValueError(f"{n}: evaluate scores one image, got a batch of {g.shape[0]}; use evaluate_grey for batches")
        imgs.append(g)
    if device is None:
        imgs = [x.to(imgs[2].device) for x in imgs]  # follow the fused image (e.g. a method's CUDA output)
    out = evaluate_grey(*imgs[:3], metrics=metrics, truth=imgs[3] if truth is not None else None)
    return {k: float(v[0]) for k, v in out.items()}


__all__ = ["evaluate", "evaluate_grey", "available", "higher_is_better", "as_grey", "METRICS", "TRUTH_METRICS",
           "SURVEY_METRICS", "DEFAULT_METRICS", "qmi", "qncie", "qte", "qg", "qp", "qe", "qy", "qcb", "qcv",
           "ssim", "psnr", "mae"]
