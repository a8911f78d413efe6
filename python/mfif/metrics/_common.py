"""Shared pieces of the metrics: input conversion, grey images, filters, histograms.

Every metric works on grey images as float64 tensors ``[B, H, W]`` holding
MATLAB-style grey values (0..255 for 8-bit data). Colour images become grey
exactly as MATLAB's ``rgb2gray`` does for uint8 input: the weights
0.298936021293776, 0.587043074451121, 0.114020904255103 and rounding to the
nearest integer. Float64 throughout: several metrics divide tiny local
quantities (QY's constants are 2e-16).
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..io import read_image
from ..colour import RGB_TO_GREY


def to_8bit(x: torch.Tensor) -> torch.Tensor:
    """16-bit values (0..65535, any integer or float64 tensor) -> the 8-bit values saving as 8-bit would
    give (round(v / 257)), as float64: the metrics' conventions (grey rounded to uint8, QMI's histograms
    of rounded 0..255 values) are those of 8-bit data, so a 16-bit copy of an image scores as the image."""
    return torch.floor(x.to(torch.float64) * (255.0 / 65535.0) + 0.5)


def _grey_from_numpy(img: np.ndarray, name: str) -> torch.Tensor:
    if img.dtype == np.uint16:
        img = np.floor(img * (255.0 / 65535.0) + 0.5).astype(np.uint8)
    if img.dtype != np.uint8:
        raise TypeError(f"{name}: numpy images must be uint8 or uint16, got {img.dtype}; "
                        "read images with mfif.io.read_image or convert with mfif.io.from_float")
    if img.ndim == 3 and img.shape[2] in (1, 3):
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    elif img.ndim == 2:
        t = torch.from_numpy(np.ascontiguousarray(img))[None]
    else:
        raise ValueError(f"{name}: numpy images must be [H, W] or [H, W, 3], got shape {img.shape}")
    return _grey_chw(t[None].to(torch.float64), name, round_grey=True)


def _grey_chw(x: torch.Tensor, name: str, round_grey: bool) -> torch.Tensor:
    """``[B, C, H, W]`` float64 (integer-valued) -> ``[B, H, W]`` grey."""
    if x.shape[1] == 1:
        return x[:, 0]
    if x.shape[1] != 3:
        raise ValueError(f"{name}: images need 1 or 3 channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    w = torch.tensor(RGB_TO_GREY, dtype=torch.float64, device=x.device).view(1, 3, 1, 1)
    g = (x * w).sum(1)
    # MATLAB rounds half away from zero; grey values are non-negative here
    return torch.floor(g + 0.5) if round_grey else g


def as_grey(img, name: str = "image", device=None) -> torch.Tensor:
    """Any supported image -> grey float64 ``[B, H, W]`` on the 0..255 scale.

    Args:
        img: a path (read with :func:`mfif.io.read_image`); a uint8/uint16 numpy
            array ``[H, W]`` or ``[H, W, 3]``; or a tensor ``[H, W]``,
            ``[C, H, W]`` or ``[B, C, H, W]`` (C = 1 or 3) that is uint8
            (0..255), uint16 (0..65535) or float in [0, 1]. Float tensors are
            quantised to 8 bits (rounded, clipped) first, exactly as saving them
            to an 8-bit PNG would, so that a method's output and its saved file
            score the same. uint16 data is likewise quantised to 8 bits
            first (``round(v / 257)``), so a 16-bit file scores as its 8-bit copy.
        name: the argument's name, used in error messages.
        device: where the result goes (default: the tensor's device, or CPU).

    Returns:
        ``[B, H, W]`` float64 grey image.
    """
    if isinstance(img, (str, os.PathLike)):
        img = read_image(os.fspath(img))
    if isinstance(img, np.ndarray):
        out = _grey_from_numpy(img, name)
        return out.to(device) if device is not None else out
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{name}: expected an image path, a numpy array or a torch.Tensor, got {type(img).__name__}")
    x = img.to(device) if device is not None else img
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[None]
    elif x.dim() != 4:
        raise ValueError(f"{name}: tensors must be [H, W], [C, H, W] or [B, C, H, W], got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if x.dtype == torch.uint8:
        return _grey_chw(x.to(torch.float64), name, round_grey=True)
    if x.dtype == torch.uint16:
        return _grey_chw(to_8bit(x), name, round_grey=True)
    if x.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or Inf")
        q = torch.clamp(torch.round(x.to(torch.float64) * 255.0), 0, 255)
        return _grey_chw(q, name, round_grey=True)
    raise TypeError(f"{name}: tensor dtype {x.dtype} is not supported; use uint8, uint16 or float in [0, 1]")


def check_grey(*imgs: torch.Tensor, names=("source_a", "source_b", "fused")):
    """Validate grey ``[B, H, W]`` (or ``[H, W]``) float tensors of one shape; return them as float64 [B, H, W]."""
    out = []
    for x, n in zip(imgs, names):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{n} must be a torch.Tensor, got {type(x).__name__}; use mfif.metrics.evaluate for paths/arrays")
        if x.dim() == 2:
            x = x[None]
        if x.dim() != 3:
            raise ValueError(f"{n} must be a grey image [B, H, W] or [H, W], got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            x = x.to(torch.float64)
        out.append(x.to(torch.float64))
    shape = out[0].shape
    for x, n in zip(out[1:], names[1:]):
        if x.shape != shape:
            raise ValueError(f"size mismatch: {names[0]} is {tuple(shape)} but {n} is {tuple(x.shape)}; "
                             "all images must have the same size (register/crop them first)")
        if x.device != out[0].device:
            raise ValueError(f"{n} is on {x.device} but {names[0]} on {out[0].device}; put them on one device")
    return out


def separable_correlate(x: torch.Tensor, col, row, mode: str = "same") -> torch.Tensor:
    """``filter2(col * row, x, mode)`` for a separable kernel of odd taps, by shifted sums (fast in float64).

    Args:
        x: ``[B, H, W]``.
        col, row: the vertical and horizontal 1-D taps (sequences of floats, odd lengths).
        mode: 'same' (zero padding) or 'valid'.
    """
    def one_axis(t, taps, dim):
        k = len(taps)
        if mode == "same":
            pad = [0, 0, 0, 0]
            pad[0 if dim == 2 else 2] = pad[1 if dim == 2 else 3] = k // 2
            t = F.pad(t, pad)
        n = t.shape[dim] - k + 1
        out = None
        for i, c in enumerate(taps):
            if c == 0:
                continue
            if out is None:
                out = t.narrow(dim, i, n) * float(c)
            else:
                out.add_(t.narrow(dim, i, n), alpha=float(c))  # fused multiply-add, no temporary
        return out
    if mode not in ("same", "valid"):
        raise ValueError(f"mode must be 'same' or 'valid', got {mode!r}")
    return one_axis(one_axis(x, list(col), 1), list(row), 2)


def sobel(x: torch.Tensor):
    """Sobel responses ``(gx, gy)`` by correlation with zero padding, as ``filter2`` in MATLAB.

    gx uses ``[-1 0 1; -2 0 2; -1 0 1]``, gy its transpose.
    """
    return (separable_correlate(x, (1, 2, 1), (-1, 0, 1)), separable_correlate(x, (-1, 0, 1), (1, 2, 1)))


def gaussian_taps(size: int, sigma: float) -> list[float]:
    """1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)`` (its outer product is the window)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma * sigma))
    return (g / g.sum()).tolist()


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """MATLAB ``fspecial('gaussian', size, sigma)``: sampled, normalised to sum 1."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def rescale_255(x: torch.Tensor) -> torch.Tensor:
    """Per image: min..max -> 0..255, rounded (the toolbox's ``normalize1``); constant images pass through."""
    flat = x.reshape(x.shape[0], -1)
    lo = flat.min(1).values.view(-1, 1, 1)
    hi = flat.max(1).values.view(-1, 1, 1)
    span = hi - lo
    scaled = torch.floor((x - lo) / torch.where(span > 0, span, 1) * 255 + 0.5)
    return torch.where(span > 0, scaled, x)


def joint_histogram(x: torch.Tensor, y: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Joint histograms ``[B, bins, bins]`` (probabilities) of integer images with values 0..bins-1."""
    B = x.shape[0]
    xi = x.reshape(B, -1).long().clamp_(0, bins - 1)
    yi = y.reshape(B, -1).long().clamp_(0, bins - 1)
    offs = torch.arange(B, device=x.device).view(B, 1) * (bins * bins)
    idx = (offs + xi * bins + yi).reshape(-1)
    h = torch.bincount(idx, minlength=B * bins * bins).view(B, bins, bins).to(torch.float64)
    return h / xi.shape[1]


def entropy(p: torch.Tensor, dims) -> torch.Tensor:
    """Shannon entropy in bits of probabilities ``p`` over ``dims`` (0 log 0 = 0)."""
    return -torch.where(p > 0, p * torch.log2(torch.where(p > 0, p, 1)), 0).sum(dims)


def freqspace(n: int, device=None) -> torch.Tensor:
    """MATLAB ``freqspace(n)``: centred frequencies ``((0:n-1) - floor(n/2)) * 2 / n``."""
    return (torch.arange(n, dtype=torch.float64, device=device) - n // 2) * (2.0 / n)


def centred_radius(h: int, w: int, scale_h: float, scale_w: float, device=None) -> torch.Tensor:
    """``sqrt(u^2 + v^2)`` on MATLAB's ``freqspace([h, w], 'meshgrid')`` grid with ``u *= scale_w, v *= scale_h``."""
    u = freqspace(w, device) * scale_w
    v = freqspace(h, device) * scale_h
    return torch.sqrt(u[None, :] ** 2 + v[:, None] ** 2)


def filter_centred_spectrum(x: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """``ifft2(ifftshift(fftshift(fft2(x)) .* response))`` for ``[B, H, W]``: complex result.

    ``response`` is given on the centred (fftshifted) frequency grid, as in the
    MATLAB code; on even sizes it is not conjugate-symmetric, so the result keeps
    a small imaginary part, which the reference code carries along too.
    """
    return torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.ifftshift(response).to(x.device))
