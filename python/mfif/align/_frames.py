"""Small copies of frames for the estimation pass, without keeping full frames.

A frame is a path, a numpy array ``[H, W]`` / ``[H, W, C]`` (uint8, uint16 or
float in [0, 1]), a torch tensor ``[C, H, W]`` / ``[1, C, H, W]`` (float in
[0, 1], any device) or a lazy frame (an object with ``shape`` and ``load()``,
such as the fusion driver's frame sources), loaded only when its turn comes.
JPEG files are decoded directly at 1/2, 1/4 or 1/8 size
(libjpeg scales in the DCT domain, several times faster than a full decode);
other files are read in full and shrunk with area averaging.
"""
from __future__ import annotations

import os
import struct

import cv2
import numpy as np

_REDUCED = {  # factor -> (colour flag, grey flag)
    2: (cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
    4: (cv2.IMREAD_REDUCED_COLOR_4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    8: (cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
}
_JPEG_EXT = (".jpg", ".jpeg", ".jpe", ".jfif")


def is_path(frame) -> bool:
    return isinstance(frame, (str, os.PathLike))


def is_tensor(frame) -> bool:
    return type(frame).__module__.startswith("torch")


def jpeg_header(path: str) -> tuple[int, int, int] | None:
    """``(H, W, components)`` from a JPEG's start-of-frame marker, or None if not found."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)
            if data[:2] != b"\xff\xd8":
                return None
            pos = 2
            while True:
                while pos + 4 > len(data):  # markers (EXIF thumbnails) can be long
                    more = f.read(1 << 16)
                    if not more:
                        return None
                    data += more
                if data[pos] != 0xFF:
                    return None
                marker = data[pos + 1]
                if marker == 0xFF:  # fill byte
                    pos += 1
                    continue
                length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    while pos + 10 > len(data):
                        more = f.read(1 << 16)
                        if not more:
                            return None
                        data += more
                    h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
                    return h, w, data[pos + 9]
                pos += 2 + length
    except OSError:
        return None


def is_lazy(frame) -> bool:
    """A lazy frame: an object with a ``shape`` ``(H, W, C)`` and a ``load()`` returning the array
    (and optionally a ``path``: a JPEG is then decoded at reduced size instead of loaded)."""
    return hasattr(frame, "load") and hasattr(frame, "shape") and not isinstance(frame, np.ndarray)


def png_header(path: str) -> tuple[int, int, int] | None:
    """``(H, W, C)`` of an 8/16-bit non-palette PNG from its IHDR chunk, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or head[24] not in (8, 16):
        return None
    colour = head[25]
    if colour not in (0, 2, 4, 6):
        return None  # palette: OpenCV expands it, decode to learn the result
    w, h = struct.unpack(">II", head[16:24])
    return h, w, (1 if colour in (0, 4) else 3)


def frame_shape(frame) -> tuple[int, int, int]:
    """``(H, W, C)`` of a frame (for a JPEG path, from its header only)."""
    if is_lazy(frame):
        s = tuple(frame.shape)
        return s[0], s[1], (s[2] if len(s) > 2 else 1)
    if is_path(frame):
        path = os.fspath(frame)
        from ..io import exif_orientation, oriented_shape, read_image

        if path.lower().endswith(_JPEG_EXT):
            hdr = jpeg_header(path)
            if hdr is not None:
                return oriented_shape((hdr[0], hdr[1], (1 if hdr[2] == 1 else 3)), exif_orientation(path))
        if path.lower().endswith(".png"):
            hdr = png_header(path)
            if hdr is not None:
                return oriented_shape(hdr, exif_orientation(path))
        img = read_image(path)
        return img.shape[0], img.shape[1], (1 if img.ndim == 2 else img.shape[2])
    if is_tensor(frame):
        s = tuple(frame.shape)
        if len(s) == 4 and s[0] == 1:
            s = s[1:]
        if len(s) != 3:
            raise ValueError(f"a tensor frame must be [C, H, W] or [1, C, H, W], got shape {tuple(frame.shape)}")
        return s[1], s[2], s[0]
    a = np.asarray(frame)
    if a.ndim == 2:
        return a.shape[0], a.shape[1], 1
    if a.ndim == 3:
        return a.shape[0], a.shape[1], a.shape[2]
    raise ValueError(f"an array frame must be [H, W] or [H, W, C], got shape {a.shape}")


def _as_float(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1 / 255)
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(1 / 65535)
    return img.astype(np.float32, copy=False)


def _shrink(img: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (-(-w // factor), -(-h // factor)), interpolation=cv2.INTER_AREA)


def load_small(frame, factor: int, channels: int) -> np.ndarray:
    """The frame shrunk ``factor`` times, float32 in [0, 1], ``[h, w, channels]`` (RGB order).

    ``channels`` is the full frame's channel count (1 or 3); 4-channel frames
    lose their alpha as :func:`mfif.io.read_image` does.
    """
    if is_lazy(frame):
        path = getattr(frame, "path", None)
        frame = path if path is not None and path.lower().endswith(_JPEG_EXT) else frame.load()
    if is_path(frame):
        path = os.fspath(frame)
        if factor in _REDUCED and path.lower().endswith(_JPEG_EXT):
            colour, grey = _REDUCED[factor]
            img = cv2.imread(path, (grey if channels == 1 else colour) | cv2.IMREAD_IGNORE_ORIENTATION)
            if img is not None:
                from ..io import exif_orientation, orient

                img = orient(img[..., ::-1] if img.ndim == 3 else img, exif_orientation(path))
                small = _as_float(np.ascontiguousarray(img))
                return small[..., None] if small.ndim == 2 else small
        from ..io import read_image
        frame = read_image(path)
    if is_tensor(frame):
        import torch.nn.functional as F
        t = frame if frame.dim() == 4 else frame[None]
        t = t.float()
        if factor > 1:
            h, w = t.shape[-2:]
            t = F.interpolate(t, size=(-(-h // factor), -(-w // factor)), mode="area")
        small = t[0].permute(1, 2, 0).detach().cpu().numpy()
    else:
        a = np.asarray(frame)
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[..., :3]
        small = _shrink(_as_float(np.ascontiguousarray(a)), factor)
    if small.ndim == 2:
        small = small[..., None]
    return np.ascontiguousarray(small, dtype=np.float32)


def grey(small: np.ndarray) -> np.ndarray:
    """Grey ``[h, w]`` float32 of a small ``[h, w, C]`` RGB (rgb2gray weights) or grey copy."""
    if small.shape[2] == 1:
        return small[..., 0]
    return np.ascontiguousarray(small[..., 0] * 0.298936 + small[..., 1] * 0.587043 + small[..., 2] * 0.114021,
                                dtype=np.float32)
