"""Procedural multi-focus test scenes whose all-in-focus truth is known."""
from __future__ import annotations

import cv2
import numpy as np


def dead_leaves(height: int, width: int, seed: int = 0, n_discs: int | None = None) -> np.ndarray:
    """A colour dead-leaves image (random occluding discs), float32 in [0, 1], [H, W, 3].

    Dead leaves have natural-image-like statistics (scale invariance, sharp
    occlusion edges), so focus measures behave on them as on photographs.
    """
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.float32)
    img[:] = rng.random(3, dtype=np.float32)
    if n_discs is None:
        n_discs = int(height * width / 60) + 50
    r_min, r_max = 2.0, max(4.0, min(height, width) / 6)
    # radius density ~ 1/r^3 (scale invariant), sampled by inverse CDF
    u = rng.random(n_discs)
    radii = 1.0 / np.sqrt(u / r_min**2 + (1 - u) / r_max**2)
    ys, xs = rng.random(n_discs) * height, rng.random(n_discs) * width
    colours = rng.random((n_discs, 3))
    for y, x, r, c in zip(ys, xs, radii, colours):
        cv2.circle(img, (int(x), int(y)), int(r), c.tolist(), -1, lineType=cv2.LINE_AA)
    return img


def focus_mask(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random region (bool [H, W]) covering roughly half the image."""
    rng = np.random.default_rng(seed + 1)
    small = rng.random((max(2, height // 64), max(2, width // 64))).astype(np.float32)
    field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return field > np.median(field)


def multifocus_pair(height: int = 256, width: int = 256, seed: int = 0, sigma: float = 3.0):
    """A synthetic multi-focus pair.

    Returns:
        ``(a, b, truth, mask)``: ``a`` is sharp where ``mask`` is True and blurred
        (Gaussian, ``sigma``) elsewhere, ``b`` the opposite, ``truth`` the sharp
        scene; images float32 ``[H, W, 3]`` in [0, 1].
    """
    truth = dead_leaves(height, width, seed)
    mask = focus_mask(height, width, seed)
    blurred = cv2.GaussianBlur(truth, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    m = mask[..., None]
    a = np.where(m, truth, blurred)
    b = np.where(m, blurred, truth)
    return a, b, truth, mask
