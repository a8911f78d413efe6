"""Resampling a full-size frame through a transform, on numpy (OpenCV) or torch.

numpy frames go through ``cv2.warpAffine`` / ``cv2.warpPerspective`` in their
own dtype (uint8 stays uint8: a quarter of the memory traffic of float32), and
the exposure map is applied afterwards (a lookup table for uint8). torch
tensors, batched, go through ``grid_sample`` on the GPU and through OpenCV on
the CPU, where it is 3-4x faster (2048x1536 float32: 0.06 s against 0.18 s). Borders are
replicated, not black: a black band with a sharp edge would look "in focus"
to a focus measure.
"""
from __future__ import annotations

import cv2
import numpy as np

INTERPOLATIONS = ("linear", "cubic", "lanczos")
_CV_INTER = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
_TORCH_INTER = {"linear": "bilinear", "cubic": "bicubic"}


def check_interpolation(name: str) -> str:
    key = str(name).lower()
    if key not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {name!r}; choose one of {', '.join(INTERPOLATIONS)}")
    return key


def _apply_exposure_array(img: np.ndarray, e: np.ndarray) -> np.ndarray:
    C = 1 if img.ndim == 2 else img.shape[2]
    if img.dtype == np.uint8:
        x = np.arange(256, dtype=np.float64)[:, None]
        lut = np.clip(np.rint(x * e[:C, 0] + e[:C, 1] * 255), 0, 255).astype(np.uint8)  # [256, C]
        if C == 1:
            return cv2.LUT(img, lut[:, 0]).reshape(img.shape)
        if C == 3:
            return cv2.LUT(img, np.ascontiguousarray(lut[None]))
        return np.stack([cv2.LUT(img[..., c], lut[:, c]) for c in range(C)], -1)
    top = 65535.0 if img.dtype == np.uint16 else 1.0
    g = e[:C, 0].astype(np.float32)
    o = (e[:C, 1] * top).astype(np.float32)
    out = img.astype(np.float32) * (g if img.ndim == 3 else g[0]) + (o if img.ndim == 3 else o[0])
    if img.dtype == np.uint16:
        return np.clip(np.rint(out), 0, 65535).astype(np.uint16)
    return np.clip(out, 0, 1).astype(img.dtype, copy=False)


def warp_array(img: np.ndarray, T: np.ndarray | None, exposure: np.ndarray | None = None,
               interpolation: str = "linear") -> np.ndarray:
    """``aligned(p) = exposure(img(T p))`` for a numpy frame ``[H, W]`` or ``[H, W, C]``.

    Args:
        img: uint8, uint16 or float32 frame.
        T: 3x3 transform (reference pixel -> frame pixel), or None to skip the resampling.
        exposure: ``[C, 2]`` per-channel ``(gain, offset)`` (offset in [0, 1] units), or None.
        interpolation: ``linear``, ``cubic`` or ``lanczos``.

    Returns:
        The aligned frame, same shape and dtype (``img`` itself if nothing is to be done).
    """
    out = img
    if T is not None:
        H, W = img.shape[:2]
        flags = _CV_INTER[check_interpolation(interpolation)] | cv2.WARP_INVERSE_MAP
        T = np.asarray(T, np.float64)
        if np.allclose(T[2], (0, 0, 1), atol=1e-12):
            out = cv2.warpAffine(img, T[:2], (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        else:
            out = cv2.warpPerspective(img, T, (W, H), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        if img.ndim == 3 and out.ndim == 2:
            out = out[..., None]
    if exposure is not None:
        out = _apply_exposure_array(out, np.asarray(exposure, np.float64))
    return out


def sampling_grid(T, H: int, W: int, device=None):
    """``grid_sample`` grid ``[B, H, W, 2]`` (align_corners=True) for transforms ``[B, 3, 3]``."""
    import torch
    T = torch.as_tensor(np.asarray(T, np.float64), device=device).reshape(-1, 3, 3)
    ys = torch.arange(H, dtype=torch.float64, device=device)
    xs = torch.arange(W, dtype=torch.float64, device=device)
    # x' = (a x + b y + c) / (g x + h y + i), separably: the row and column parts are outer sums
    def part(r):
        return (T[:, r, 0, None, None] * xs[None, None, :] + T[:, r, 1, None, None] * ys[None, :, None]
                + T[:, r, 2, None, None])
    w = part(2)
    gx = part(0) / w * (2.0 / max(W - 1, 1)) - 1
    gy = part(1) / w * (2.0 / max(H - 1, 1)) - 1
    return torch.stack([gx, gy], -1).float()


def _warp_tensor_cv(xb, T, interpolation: str):
    """The CPU route of :func:`warp_tensor`: OpenCV per frame (3-4x faster than grid_sample
    on 2048x1536 float32 frames, permutes included; measured in benchmarks/bench_align.py)."""
    import torch
    T = np.asarray(T, np.float64).reshape(-1, 3, 3)
    outs = []
    for b in range(xb.shape[0]):
        img = xb[b].detach().permute(1, 2, 0).numpy()
        w = warp_array(np.ascontiguousarray(img), T[b if len(T) > 1 else 0], None, interpolation)
        outs.append(torch.from_numpy(w.reshape(img.shape)).permute(2, 0, 1))
    return torch.stack(outs).contiguous()


def warp_tensor(x, T, exposure=None, interpolation: str = "linear", backend: str = "auto"):
    """Batched ``aligned = exposure(x(T p))`` on torch, any device.

    Args:
        x: ``[C, H, W]`` or ``[B, C, H, W]`` float tensor in [0, 1].
        T: ``[3, 3]`` or ``[B, 3, 3]`` transforms (numpy or tensor), or None.
        exposure: ``[C, 2]`` or ``[B, C, 2]`` per-channel ``(gain, offset)``, or None.
        interpolation: ``linear`` or ``cubic`` (``lanczos`` only through OpenCV).
        backend: ``"torch"`` (``grid_sample``), ``"opencv"`` (CPU tensors only) or
            ``"auto"``: OpenCV for float32/float64 CPU tensors, ``grid_sample`` otherwise.

    Returns:
        A tensor of the shape, dtype and device of ``x``.
    """
    import torch
    import torch.nn.functional as F
    single = x.dim() == 3
    xb = x[None] if single else x
    if xb.dim() != 4:
        raise ValueError(f"warp_tensor: x must be [C, H, W] or [B, C, H, W], got {tuple(x.shape)}")
    if backend not in ("auto", "torch", "opencv"):
        raise ValueError(f"warp_tensor: backend must be 'auto', 'torch' or 'opencv', got {backend!r}")
    B, C, H, W = xb.shape
    out = xb
    cv_ok = xb.device.type == "cpu" and xb.dtype in (torch.float32, torch.float64) and C <= 4
    if backend == "opencv" and not cv_ok:
        raise ValueError("warp_tensor: the OpenCV backend takes float32/float64 CPU tensors with at most 4 channels")
    if T is not None and (backend == "opencv" or (backend == "auto" and cv_ok)):
        Tn = T.detach().cpu().numpy() if torch.is_tensor(T) else T
        if np.asarray(Tn).reshape(-1, 3, 3).shape[0] not in (1, B):
            raise ValueError(f"warp_tensor: {np.asarray(Tn).reshape(-1, 3, 3).shape[0]} transforms for a batch of {B}")
        out = _warp_tensor_cv(xb, Tn, check_interpolation(interpolation))
        T = None
    if T is not None:
        key = check_interpolation(interpolation)
        if key not in _TORCH_INTER:
            raise ValueError("warp_tensor: interpolation 'lanczos' exists only through OpenCV (CPU); "
                             "use linear or cubic")
        grid = sampling_grid(T.detach().cpu().numpy() if torch.is_tensor(T) else T, H, W, device=xb.device)
        if grid.shape[0] == 1 and B > 1:
            grid = grid.expand(B, -1, -1, -1)
        elif grid.shape[0] != B:
            raise ValueError(f"warp_tensor: {grid.shape[0]} transforms for a batch of {B} frames")
        out = F.grid_sample(xb.float(), grid, mode=_TORCH_INTER[key], padding_mode="border",
                            align_corners=True).to(xb.dtype)
    if exposure is not None:
        e = torch.as_tensor(np.asarray(exposure, np.float64), dtype=out.dtype, device=out.device).reshape(-1, C, 2)
        out = (out * e[..., 0, None, None] + e[..., 1, None, None]).clamp(0, 1)
    return out[0] if single else out
