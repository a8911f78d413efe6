"""numpy conversions between stored pixels and float planes, shared by both fusion drivers.

Frames are stored ``[H, W, C]`` (uint8, uint16 or float32 in [0, 1]); methods
work on float planes ``[C, H, W]`` in [0, 1]. Both conversions run a few rows
or one channel at a time, so their temporaries stay small next to the frame.
"""
from __future__ import annotations

import numpy as np

SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


def to_planes(arr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``[H, W, C]`` uint8/uint16/float32 -> float32 planes ``[C, H, W]`` in [0, 1] (into ``out`` if given).

    The same float32 products as ``torch.from_numpy(arr).float() * (1 / scale)``.
    """
    if arr.ndim == 2:
        arr = arr[..., None]
    scale = SCALES.get(arr.dtype)
    if scale is None:
        raise ValueError(f"frames must be uint8, uint16 or float32, got {arr.dtype}")
    if out is None:
        out = np.empty((arr.shape[2],) + arr.shape[:2], np.float32)
    for c in range(arr.shape[2]):
        np.multiply(arr[..., c], np.float32(1.0 / scale), out=out[c], dtype=np.float32)
    return out


def quantize_planes(x: np.ndarray, bits: int, channels_last: bool = False, rows: int = 16) -> np.ndarray:
    """Float in [0, 1] -> rounded integers of ``bits`` (uint8, or int32 holding 16-bit values).

    Rounded in float64 (as :func:`mfif.io.from_float`: a float32 product can land
    on the wrong side of a .5), ``rows`` rows at a time so each band stays in the
    cache. With ``channels_last``, planes ``[C, H, W]`` come out as ``[H, W, C]``
    uint8/uint16, ready to write.
    """
    top = float((1 << bits) - 1)
    if channels_last:
        out = np.empty(x.shape[1:] + x.shape[:1], np.uint8 if bits == 8 else np.uint16)
    else:
        out = np.empty(x.shape, np.uint8 if bits == 8 else np.int32)
    for r in range(0, x.shape[-2], rows):
        band = np.multiply(x[..., r:r + rows, :], top, dtype=np.float64)
        np.clip(np.rint(band, out=band), 0, top, out=band)
        if channels_last:
            out[r:r + rows] = np.moveaxis(band, 0, -1)
        else:
            out[..., r:r + rows, :] = band
    return out
