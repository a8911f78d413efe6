"""Exposure and white-balance matching between two registered frames.

Defocus moves light around but keeps local means, so the photometric map is
fitted on block means of the overlap (blocks of 1/32 of the long side), where
two frames focused differently look alike: a per-channel gain (ratio of the
means) or a gain and an offset (least squares on the block means). Blocks with
clipped pixels (near 0 or 1 in either frame) or outside the overlap carry no
information about the gain and are left out.
"""
from __future__ import annotations

import cv2
import numpy as np

EXPOSURE_MODES = ("none", "gain", "gain_offset")
_CLIP_LO, _CLIP_HI = 2 / 255, 250 / 255


def check_mode(mode) -> str:
    key = "none" if mode in (None, False) else str(mode).lower()
    if key not in EXPOSURE_MODES:
        raise ValueError(f"unknown exposure mode {mode!r}; choose one of {', '.join(EXPOSURE_MODES)}")
    return key


def fit(template: np.ndarray, image_in_template: np.ndarray, valid: np.ndarray, mode: str) -> np.ndarray:
    """Per-channel ``(gain, offset)`` with ``template ~ gain * image + offset``.

    Args:
        template: ``[h, w, C]`` float32 frame kept fixed.
        image_in_template: the other frame warped onto the template, same shape.
        valid: ``[h, w]`` bool, where the warped frame has data.
        mode: ``"gain"`` or ``"gain_offset"`` (``"none"`` gives the identity).

    Returns:
        ``[C, 2]`` float64 array of ``(gain, offset)`` per channel.
    """
    C = template.shape[2]
    out = np.tile(np.array([1.0, 0.0]), (C, 1))
    if mode == "none":
        return out
    # block means over about 1/32 of the long side: defocus blurs less than that
    h, w = valid.shape
    k = max(1, max(h, w) // 32)
    size = (max(1, w // k), max(1, h // k))
    m = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    clipped = np.zeros((h, w), np.float32)
    for img in (template, image_in_template):
        clipped += ((img <= _CLIP_LO) | (img >= _CLIP_HI)).any(-1)
    ok = cv2.resize((clipped == 0).astype(np.float32) * valid, size, interpolation=cv2.INTER_AREA)
    use = (m > 0.999) & (ok > 0.999)  # blocks fully inside the overlap and unclipped
    if use.sum() < max(4, 0.05 * use.size):
        return out  # too little unclipped overlap to say anything
    t = cv2.resize(template, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], C)[use]
    s = cv2.resize(image_in_template, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], C)[use]
    for c in range(C):
        if mode == "gain":
            out[c] = (float(t[:, c].sum() / max(s[:, c].sum(), 1e-12)), 0.0)
        else:
            A = np.stack([s[:, c], np.ones(len(s))], 1).astype(np.float64)
            out[c] = np.linalg.lstsq(A, t[:, c].astype(np.float64), rcond=None)[0]
    return out


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer(inner(x))`` for per-channel ``(gain, offset)`` maps."""
    g = outer[:, 0] * inner[:, 0]
    o = outer[:, 0] * inner[:, 1] + outer[:, 1]
    return np.stack([g, o], 1)


def invert(e: np.ndarray) -> np.ndarray:
    g = e[:, 0]
    return np.stack([1 / g, -e[:, 1] / g], 1)


def is_identity(e: np.ndarray, tol: float) -> bool:
    """True when the map changes no value in [0, 1] by more than ``tol``."""
    g, o = e[:, 0], e[:, 1]
    return bool(np.all(np.maximum(np.abs(o), np.abs(g + o - 1)) <= tol))
