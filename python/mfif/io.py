"""Image reading and writing: 8/16-bit PNG and TIFF (and anything OpenCV reads).

Writes are atomic (a temporary file in the same folder, renamed at the end),
so a failure never leaves a half-written output.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

import cv2
import numpy as np


class ImageError(ValueError):
    """An image could not be read or written; the message says which and why."""


def read_image(path: str) -> np.ndarray:
    """Read an image as stored: uint8 or uint16, ``[H, W]`` grey or ``[H, W, 3]`` RGB."""
    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such file")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise ImageError(f"{path}: not an image OpenCV can read (corrupt or unsupported format)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: {img.dtype} images are not supported; use 8- or 16-bit images")
    if img.ndim == 3 and img.shape[2] in (3, 4):
        # BGR(A) -> RGB, dropping alpha, in OpenCV's one pass (several times faster than a reversed copy)
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    elif img.ndim == 3:
        img = np.ascontiguousarray(img[..., ::-1])
    return img


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8/uint16 (or float) image -> float32 in [0, 1]."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    return img.astype(np.float32)


def from_float(img: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """float image in [0, 1] -> rounded, clipped uint8 or uint16."""
    top = 255.0 if dtype == np.uint8 else 65535.0
    return np.clip(np.rint(np.asarray(img, np.float64) * top), 0, top).astype(dtype)



@contextlib.contextmanager
def atomic_output(path: str, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    A failure inside the block removes the temporary file, so ``path`` is
    either untouched or complete. The result gets the permissions a plain
    ``open(path, "w")`` would give (0666 less the umask), not mkstemp's 0600.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".mfif-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_image(path: str, img: np.ndarray) -> None:
    """Write a uint8/uint16 grey or RGB image atomically (format from the extension)."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: write uint8 or uint16 images, got {img.dtype} (use from_float)")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jpg", ".jpeg") and img.dtype == np.uint16:
        raise ImageError(f"{path}: JPEG cannot hold 16-bit images; use .png or .tif")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageError(f"{path}: folder {folder} does not exist")
    bgr = img[..., ::-1] if img.ndim == 3 else img
    with atomic_output(path, ext or ".png") as tmp:
        if not cv2.imwrite(tmp, np.ascontiguousarray(bgr)):
            raise ImageError(f"{path}: OpenCV could not write this format (extension '{ext}')")
