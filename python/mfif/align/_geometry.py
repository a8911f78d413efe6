"""3x3 transforms in pixel coordinates: conversions between scales, models,
displacement measures and the area valid in all frames.

Convention (the one of OpenCV's ECC and of ``grid_sample``): a transform ``T``
maps pixel coordinates ``(x, y, 1)`` of the *reference* frame to those of the
frame it belongs to, so the aligned frame is ``aligned(p) = frame(T p)``.
Pixel centres are at integer coordinates.
"""
from __future__ import annotations

import numpy as np

MODELS = ("translation", "euclidean", "similarity", "affine", "homography")


def check_model(model: str) -> str:
    key = str(model).lower()
    if key not in MODELS:
        raise ValueError(f"unknown alignment model {model!r}; choose one of {', '.join(MODELS)}")
    return key


def rescale(T: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """A transform of images sampled ``sx, sy`` times more finely (pixel centres kept).

    A pixel ``p`` of the coarse image sits at ``S p`` in the fine one, with
    ``S = [[sx, 0, (sx-1)/2], [0, sy, (sy-1)/2], [0, 0, 1]]`` (the centre of a
    block of ``sx x sy`` fine pixels), so the fine transform is ``S T S^-1``.
    """
    S = np.array([[sx, 0.0, (sx - 1) / 2], [0.0, sy, (sy - 1) / 2], [0.0, 0.0, 1.0]])
    return S @ np.asarray(T, np.float64) @ np.linalg.inv(S)


def project_to_model(T: np.ndarray, model: str, centre: tuple[float, float]) -> np.ndarray:
    """The nearest transform of ``model`` to the affine ``T`` (same image of ``centre``).

    Used to turn an affine ECC estimate into a similarity: the linear part is
    replaced by its nearest scaled rotation and the translation chosen so the
    frame centre maps where ``T`` maps it.
    """
    if model not in ("similarity",):
        return T
    a, b, c, d = T[0, 0], T[0, 1], T[1, 0], T[1, 1]
    p, q = (a + d) / 2, (c - b) / 2
    A = np.array([[p, -q], [q, p]])
    cx, cy = centre
    target = T[:2, :2] @ np.array([cx, cy]) + T[:2, 2]
    out = np.eye(3)
    out[:2, :2] = A
    out[:2, 2] = target - A @ np.array([cx, cy])
    return out


def apply(T: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Map points ``[..., 2]`` through ``T`` (with the projective division)."""
    xy = np.asarray(xy, np.float64)
    h = xy @ T[:2, :2].T + T[:2, 2]
    w = xy @ T[2, :2] + T[2, 2]
    return h / w[..., None]


def pixel_grid(shape: tuple[int, int], step: int = 1) -> np.ndarray:
    """The pixel centres ``[n, 2]`` of an ``H x W`` frame, every ``step`` pixels."""
    H, W = shape
    ys, xs = np.mgrid[0:H:step, 0:W:step]
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)


def rms_displacement(T_est: np.ndarray, T_true: np.ndarray, shape: tuple[int, int], step: int = 4) -> float:
    """RMS over the frame's pixels of ``|T_est p - T_true p|``, in pixels."""
    p = pixel_grid(shape, step)
    return float(np.sqrt(np.mean(np.sum((apply(T_est, p) - apply(T_true, p)) ** 2, 1))))


def corners(shape: tuple[int, int]) -> np.ndarray:
    H, W = shape
    return np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float64)


def max_displacement(T: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest ``|T p - p|`` over the frame (at a corner for an affine ``T``)."""
    H, W = shape
    pts = np.concatenate([corners(shape), [[(W - 1) / 2, (H - 1) / 2]]])
    return float(np.max(np.linalg.norm(apply(T, pts) - pts, axis=1)))


def valid_mask(transforms, shape: tuple[int, int], step: int = 1) -> np.ndarray:
    """Bool ``[ceil(H/step), ceil(W/step)]``: True where every frame has data.

    A reference pixel ``p`` is valid for a frame when ``T p`` falls inside that
    frame (within half a pixel of its outer pixel centres).
    """
    H, W = shape
    xs = np.arange(0, W, step, dtype=np.float64)[None, :]
    ys = np.arange(0, H, step, dtype=np.float64)[:, None]
    ok = np.ones((ys.shape[0], xs.shape[1]), bool)
    for T in transforms:
        T = np.asarray(T, np.float64)
        # separable: each mapped coordinate is a row term plus a column term (then the projective division)
        w = T[2, 0] * xs + T[2, 1] * ys + T[2, 2]
        qx = (T[0, 0] * xs + T[0, 1] * ys + T[0, 2]) / w
        qy = (T[1, 0] * xs + T[1, 1] * ys + T[1, 2]) / w
        ok &= (qx >= -0.5) & (qx <= W - 0.5) & (qy >= -0.5) & (qy <= H - 0.5)
    return ok


def _inside(transforms, shape, box) -> bool:
    x0, y0, x1, y1 = box
    H, W = shape
    pts = np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], np.float64)
    for T in transforms:
        q = apply(np.asarray(T, np.float64), pts)
        if not ((q[:, 0] >= -0.5).all() and (q[:, 0] <= W - 0.5).all()
                and (q[:, 1] >= -0.5).all() and (q[:, 1] <= H - 0.5).all()):
            return False
    return True


def valid_box(transforms, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A large axis-aligned box ``(x0, y0, x1, y1)`` (end exclusive) valid in all frames.

    The valid area is convex (an intersection of the frames' quadrilaterals),
    so a box is inside it when its four corners are. The box of the frame's
    aspect ratio centred on the area's centroid is grown by bisection as far as
    it stays inside, then each side is pushed out on its own the same way.
    Returns the whole frame when it is valid.
    """
    H, W = shape
    if _inside(transforms, shape, (0, 0, W, H)):
        return (0, 0, W, H)
    step = max(1, min(H, W) // 128)
    m = valid_mask(transforms, shape, step)
    if not m.any():
        raise ValueError("the frames have no common area: the estimated transforms do not overlap")
    ys, xs = np.nonzero(m)
    cx, cy = xs.mean() * step, ys.mean() * step

    def centred(lam):
        x0, x1 = int(np.ceil(cx - lam * W / 2)), int(np.floor(cx + lam * W / 2)) + 1
        y0, y1 = int(np.ceil(cy - lam * H / 2)), int(np.floor(cy + lam * H / 2)) + 1
        return [max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)]

    lo, hi = 0.0, 1.0
    if not _inside(transforms, shape, centred(lo)):
        raise ValueError("the frames have no common area: the estimated transforms do not overlap")
    for _ in range(30):
        mid = (lo + hi) / 2
        if _inside(transforms, shape, centred(mid)):
            lo = mid
        else:
            hi = mid
    box = centred(lo)
    # push each side back out as far as the box stays inside (bisection: for a
    # convex area the valid positions of one side form an interval)
    for side, limit in ((0, 0), (2, W), (1, 0), (3, H)):
        good, bad = box[side], limit
        trial = list(box)
        trial[side] = limit
        if _inside(transforms, shape, trial):
            box = trial
            continue
        while abs(bad - good) > 1:
            mid = (good + bad) // 2
            trial[side] = mid
            if _inside(transforms, shape, trial):
                good = mid
            else:
                bad = mid
        box[side] = good
    return tuple(box)
