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


def _blur_levels(truth: np.ndarray, top: float, levels: int = 6) -> tuple[np.ndarray, float]:
    """``[levels, H, W, C]`` Gaussian blurs of ``truth`` with sigmas ``0, step, ..., top``."""
    step = top / (levels - 1)
    return np.stack([truth if j == 0 else cv2.GaussianBlur(truth, (0, 0), j * step) for j in range(levels)]), step


def _defocus(stack: np.ndarray, step: float, sigma_map: np.ndarray) -> np.ndarray:
    """A per-pixel Gaussian blur of ``sigma_map``, interpolated between the levels of ``stack``."""
    pos = np.clip(sigma_map / step, 0, len(stack) - 1 - 1e-6)
    k = pos.astype(np.int64)[None, ..., None]
    t = (pos - np.floor(pos))[..., None].astype(np.float32)
    lo = np.take_along_axis(stack, k, 0)[0]
    hi = np.take_along_axis(stack, k + 1, 0)[0]
    return (1 - t) * lo + t * hi


def moving_stack(height: int, width: int, n: int = 5, seed: int = 0, max_scale: float = 0.08,
                 max_rotation_deg: float = 0.5, max_shift: float = 6.0, sigmas=None, reference: int | None = None,
                 max_sigma: float = 4.0):
    """A focus stack whose frames move (focus breathing, camera shake) by known amounts.

    Frame ``i`` samples a larger sharp dead-leaves scene through a similarity
    about the frame centre (scale from ``1 - max_scale`` to ``1 + max_scale``
    across the stack, a random rotation and shift). The blur is either one
    Gaussian per frame (``sigmas[i]``) or, when ``sigmas`` is None, that of a
    focus sweep: the scene has a smooth random depth, frame ``i`` is focused at
    depth ``i / (n - 1)`` and each point is blurred by ``max_sigma`` times its
    distance to that depth, so neighbouring frames are blurred alike and each
    frame is sharp somewhere, as in a real stack.

    Returns:
        ``(frames, true_transforms)``: ``n`` float32 ``[H, W, 3]`` frames in [0, 1] and
        ``[n, 3, 3]`` transforms mapping pixels of the reference frame (``n // 2`` by
        default) to pixels of each frame (the convention of :mod:`mfif.align`).
    """
    rng = np.random.default_rng(seed)
    ref = n // 2 if reference is None else reference
    margin = 1 + max_scale + 0.1
    Ht, Wt = int(height * margin) + 16, int(width * margin) + 16
    truth = dead_leaves(Ht, Wt, seed)
    if sigmas is None:
        small = rng.random((4, 4)).astype(np.float32)
        depth = cv2.resize(small, (Wt, Ht), interpolation=cv2.INTER_CUBIC)
        depth = (depth - depth.min()) / max(float(np.ptp(depth)), 1e-6)
        blurs, step = _blur_levels(truth, max_sigma)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    to_truth = np.array([[1, 0, (Wt - 1) / 2 - cx], [0, 1, (Ht - 1) / 2 - cy], [0, 0, 1]], np.float64)
    scales = 1 + np.linspace(-max_scale, max_scale, n) + rng.uniform(-0.005, 0.005, n)
    frames, A = [], []
    for i in range(n):
        a = np.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
        s = scales[i]
        t = rng.uniform(-max_shift, max_shift, 2)
        M = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
        M[:2, 2] = np.array([cx, cy]) + t - M[:2, :2] @ np.array([cx, cy])
        Ai = to_truth @ M  # frame pixel -> truth pixel
        if sigmas is None:
            src = _defocus(blurs, step, max_sigma * np.abs(depth - i / max(n - 1, 1)))
        else:
            src = truth if sigmas[i] <= 0 else cv2.GaussianBlur(truth, (0, 0), float(sigmas[i]))
        frames.append(cv2.warpAffine(src, Ai[:2], (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT).clip(0, 1))
        A.append(Ai)
    T = np.stack([np.linalg.inv(A[i]) @ A[ref] for i in range(n)])
    return frames, T
