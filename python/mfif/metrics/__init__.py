"""Objective fusion metrics that reproduce the MATLAB code of the Liu et al. 2020 survey.

Each metric takes grey float64 tensors ``[B, H, W]`` (0..255 scale) and returns
``[B]`` values; :func:`evaluate` takes paths, numpy arrays or tensors, converts
them as the survey did (MATLAB ``rgb2gray`` rounded to uint8) and returns a dict
of the survey's metric names to floats.

| name | metric | better |
|---|---|---|
| QMI | normalised mutual information (Hossny) | higher |
| QTE | Tsallis mutual information (Cvejic) | higher |
| QNCIE | nonlinear correlation information entropy (Wang) | higher |
| QG | gradient edge preservation Q^AB/F (Xydeas-Petrovic) | higher |
| QE | edge-dependent fusion quality (Piella) | higher |
| QY | SSIM-based (Yang) | higher |
| QCB | perceptual contrast preservation (Chen-Blum) | higher |
| QCV | perceptual regional distortion (Chen-Varshney) | lower |

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
from .information import qmi, qncie, qte
from .piella import qe
from .yang import qy

# survey name -> (function, higher is better)
METRICS: dict[str, tuple[Callable[..., torch.Tensor], bool]] = {
    "QMI": (qmi, True),
    "QNCIE": (qncie, True),
    "QG": (qg, True),
    "QE": (qe, True),
    "QY": (qy, True),
    "QCB": (qcb, True),
    "QCV": (qcv, False),
    "QTE": (qte, True),
}

# what evaluate computes when metrics=None: the survey's columns that exist here, then the extras
DEFAULT_METRICS = [m for m in ("QMI", "QNCIE", "QG", "QP", "QE", "QY", "QCB", "QCV", "QTE") if m in METRICS]


def available() -> list[str]:
    """Names :func:`evaluate` accepts."""
    return list(METRICS)


def higher_is_better(name: str) -> bool:
    """True when larger values of metric ``name`` mean a better fusion."""
    return METRICS[_canonical(name)][1]


def _canonical(name: str) -> str:
    key = name.upper()
    if key not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    return key


def evaluate_grey(source_a: torch.Tensor, source_b: torch.Tensor, fused: torch.Tensor,
                  metrics: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Batched form of :func:`evaluate` on grey float64 tensors ``[B, H, W]``: name -> ``[B]`` tensor."""
    names = [_canonical(m) for m in (metrics if metrics is not None else DEFAULT_METRICS)]
    a, b, f = check_grey(source_a, source_b, fused)
    return {n: METRICS[n][0](a, b, f) for n in names}


def evaluate(source_a, source_b, fused, metrics: Sequence[str] | None = None, device=None) -> dict[str, float]:
    """Score one fused image against its two sources.

    Args:
        source_a, source_b, fused: image paths, uint8/uint16 numpy arrays
            (``[H, W]`` or ``[H, W, 3]``, RGB) or tensors (``[H, W]``,
            ``[C, H, W]`` or ``[1, C, H, W]``; uint8, uint16 or float in [0, 1],
            which is quantised to 8 bits as saving would). Colour becomes grey
            with MATLAB's rgb2gray weights, rounded. All three must have the same
            height and width.
        metrics: names (case-insensitive) from :func:`available`; default
            :data:`DEFAULT_METRICS`.
        device: where to compute (default: CPU, or the tensors' device).

    Returns:
        dict of metric name -> float.

    Raises:
        ValueError: different sizes, unknown metric, bad shapes.
        TypeError: unsupported dtype or input type.
        mfif.io.ImageError: a path that cannot be read.
    """
    imgs = [as_grey(x, n, device) for x, n in zip((source_a, source_b, fused), ("source_a", "source_b", "fused"))]
    for x, n in zip(imgs, ("source_a", "source_b", "fused")):
        if x.shape[0] != 1:
            raise ValueError(f"{n}: evaluate scores one image, got a batch of {x.shape[0]}; use evaluate_grey for batches")
    if device is None and len({x.device for x in imgs}) > 1:
        imgs = [x.to(imgs[-1].device) for x in imgs]
    out = evaluate_grey(*imgs, metrics=metrics)
    return {k: float(v[0]) for k, v in out.items()}


__all__ = ["evaluate", "evaluate_grey", "available", "higher_is_better", "as_grey", "METRICS", "DEFAULT_METRICS",
           "qmi", "qncie", "qte", "qg", "qy", "qe", "qcb", "qcv"]
