"""Pairwise registration with OpenCV's ECC (Evangelidis & Psarakis 2008), coarse to fine.

ECC maximises the correlation coefficient between a template and a warped
image, which is invariant to gain and offset; with a Gaussian pre-filter
(``gaussFiltSize``) and starting on a small pyramid level it survives the
different defocus of two frames of a focus stack. What OpenCV lacks and this
module adds: the pyramid (each level starts from the coarser one's
estimate), the similarity model (affine ECC projected to the nearest scaled
rotation at each level) and clear errors instead of OpenCV's exceptions.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import _geometry as geo

_MOTION = {
    "translation": cv2.MOTION_TRANSLATION,
    "euclidean": cv2.MOTION_EUCLIDEAN,
    "similarity": cv2.MOTION_AFFINE,
    "affine": cv2.MOTION_AFFINE,
    "homography": cv2.MOTION_HOMOGRAPHY,
}


class RegistrationError(RuntimeError):
    """ECC could not register two frames (no overlap, no texture, divergence)."""


def pyramid_levels(shape: tuple[int, int], coarsest_side: int = 96) -> int:
    """How many pyramid levels keep the coarsest image's short side >= ``coarsest_side``."""
    levels, side = 1, min(shape)
    while side // 2 >= coarsest_side:
        side //= 2
        levels += 1
    return levels


def ecc_pair(template: np.ndarray, image: np.ndarray, init: np.ndarray | None = None, model: str = "affine",
             levels: int | None = None, gauss: int = 5, iterations: int = 40, eps: float = 1e-5,
             fine_iterations: int | None = None, fine_gauss: int | None = None) -> tuple[np.ndarray, float]:
    """Register ``image`` to ``template`` (both float32 ``[h, w]``, same size).

    Args:
        template, image: grey frames; ``template`` is the one kept fixed.
        init: 3x3 starting transform at this scale (identity if None).
        model: one of ``translation, euclidean, similarity, affine, homography``.
        levels: pyramid levels (halving each time); by default down to a short
            side of about 96 pixels.
        gauss: size of ECC's Gaussian pre-filter (odd, pixels) on the coarse levels,
            ``fine_gauss`` on the finest (default: ``gauss``).
        iterations: ECC iterations per level (``fine_iterations`` on the finest).
        eps: ECC's stopping threshold on the correlation increment.

    Returns:
        ``(T, cc)``: the 3x3 transform (template pixel -> image pixel) at the
        scale of the inputs and the final correlation coefficient.

    Examples:
        >>> import numpy as np, cv2
        >>> ref = cv2.GaussianBlur(np.random.default_rng(0).random((96, 128), dtype=np.float32), (0, 0), 2)
        >>> moved = np.roll(ref, (2, 3), axis=(0, 1))  # the content 3 px right, 2 px down
        >>> T, cc = ecc_pair(ref, moved, model="translation")
        >>> np.round(T[:2, 2]).tolist(), bool(cc > 0.9)
        ([3.0, 2.0], True)
    """
    model = geo.check_model(model)
    if template.shape != image.shape:
        raise ValueError(f"ecc_pair: template {template.shape} and image {image.shape} differ in size")
    start = np.eye(3) if init is None else np.asarray(init, np.float64).copy()
    T, cc = _ecc_pyramid(template, image, start, model, levels, gauss, iterations, eps, fine_iterations, fine_gauss)
    # ECC can walk away from the right answer (seen on small noisy frames whose exposure differs in
    # one part: a 3 % scale, 1.6 px, found between two registered 40x40 frames): keep its result
    # only when it agrees with the template at least as well as the start did, on the frames as
    # given (no pre-filter)
    before, after = correlation(template, image, start), correlation(template, image, T)
    if not after >= before:
        return start, before
    return T, cc


def correlation(template: np.ndarray, image: np.ndarray, T: np.ndarray) -> float:
    """The zero-mean normalised correlation of ``template`` and ``image`` warped onto it by ``T``
    (template pixel -> image pixel), over the template pixels that ``T`` maps inside the image
    (-1 when fewer than a quarter of them do)."""
    moved, use = warp_onto(np.float32(image), T, template.shape[:2])
    if use.sum() < 0.25 * use.size:
        return -1.0
    x = template[use].astype(np.float64)
    y = moved[use].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else -1.0


def warp_onto(image: np.ndarray, T: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``image`` resampled onto a frame of ``shape`` ``(h, w)`` by ``T`` (frame pixel -> image pixel,
    bilinear), and the bool mask of the frame pixels that ``T`` maps inside the image."""
    h, w = shape
    M = T if not np.allclose(T[2], (0, 0, 1)) else T[:2]
    warp = cv2.warpPerspective if M.shape[0] == 3 else cv2.warpAffine
    moved = warp(image, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    valid = warp(np.ones((h, w), np.uint8), M, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    return moved, valid


def _ecc_pyramid(template, image, T, model, levels, gauss, iterations, eps, fine_iterations, fine_gauss):
    """ECC from coarse to fine (see :func:`ecc_pair`), starting from ``T``."""
    if levels is None:
        levels = pyramid_levels(template.shape)
    pyr_t, pyr_i = [np.ascontiguousarray(template, np.float32)], [np.ascontiguousarray(image, np.float32)]
    for _ in range(levels - 1):
        pyr_t.append(cv2.pyrDown(pyr_t[-1]))
        pyr_i.append(cv2.pyrDown(pyr_i[-1]))
    # pyrDown keeps pixel i of the coarse level at pixel 2i of the fine one
    down = np.diag([0.5, 0.5, 1.0])
    T = np.linalg.matrix_power(down, levels - 1) @ T @ np.linalg.matrix_power(np.linalg.inv(down), levels - 1)
    cc = float("nan")
    # (level, iterations, pre-filter): the coarse levels with the pre-filter, then the finest
    # level without it; a single-level pyramid gets both passes
    plan = [(lv, iterations, gauss) for lv in reversed(range(1, levels))]
    if levels == 1 and (fine_iterations is not None or fine_gauss is not None):
        plan.append((0, iterations, gauss))
    plan.append((0, iterations if fine_iterations is None else fine_iterations,
                 gauss if fine_gauss is None else fine_gauss))
    for level, its, g in plan:
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, its, eps)
        warp = (T if model == "homography" else T[:2]).astype(np.float32)
        try:
            cc, warp = cv2.findTransformECC(pyr_t[level], pyr_i[level], warp, _MOTION[model], criteria, None, g)
        except cv2.error as exc:
            raise RegistrationError(
                f"ECC did not converge at pyramid level {level} ({pyr_t[level].shape[1]}x{pyr_t[level].shape[0]}): "
                f"the frames may not overlap or have too little texture ({str(exc).strip().splitlines()[-1]})"
            ) from None
        T = np.eye(3)
        if model == "homography":
            T[:] = warp
        else:
            T[:2] = warp
        h, w = pyr_t[level].shape
        T = geo.project_to_model(T, model, ((w - 1) / 2, (h - 1) / 2))
        if level:
            T = np.linalg.inv(down) @ T @ down  # to the next finer level
    return T, float(cc)
