"""Image reading and writing: 8/16-bit PNG and TIFF (and anything OpenCV reads).

Reading applies the EXIF orientation (a portrait photograph comes out
portrait). Writing is atomic (a temporary file in the same folder, renamed at
the end), so a failure never leaves a half-written output, and can carry the
EXIF and ICC profile of a source (:func:`read_metadata`) into 8-bit JPEG, PNG,
TIFF and WebP outputs (written by Pillow then; 16-bit outputs are written
without them).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import cv2
import numpy as np

# EXIF tag 0x0112: how the stored pixels must be turned to be seen upright
ORIENTATION_TAG = 0x0112
_METADATA_FORMATS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An image could not be read or written; the message says which and why."""


def exif_orientation(path: str) -> int:
    """The EXIF orientation of an image file (1 to 8; 1, upright, when absent or unreadable)."""
    if os.path.splitext(path)[1].lower() not in _METADATA_FORMATS:
        return 1
    try:
        from PIL import Image

        with Image.open(path) as im:
            value = int(im.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - no EXIF to read is the common case, never an error
        return 1
    return value if 1 <= value <= 8 else 1


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels ``[H, W(, C)]`` upright for an EXIF ``orientation`` (1 to 8), as viewers do.

    Examples:
        >>> a = np.arange(6).reshape(2, 3)
        >>> orient(a, 6)            # stored sideways: turn 90 degrees clockwise
        array([[3, 0],
               [4, 1],
               [5, 2]])
    """
    ops = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
           8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(img))


def oriented_shape(shape: tuple[int, ...], orientation: int) -> tuple[int, ...]:
    """The ``(H, W, ...)`` of a stored image's shape after :func:`orient` (5 to 8 swap H and W)."""
    return (shape[1], shape[0]) + tuple(shape[2:]) if orientation in (5, 6, 7, 8) else tuple(shape)


def read_metadata(path: str) -> dict[str, bytes]:
    """The EXIF block and ICC profile of an image file (keys ``exif``, ``icc_profile``; absent ones left out).

    The EXIF orientation is set to 1 (upright), since :func:`read_image` turns the pixels.
    """
    if os.path.splitext(path)[1].lower() not in _METADATA_FORMATS:
        return {}
    out: dict[str, bytes] = {}
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.info.get("icc_profile"):
                out["icc_profile"] = im.info["icc_profile"]
            exif = im.getexif()
            if len(exif):
                if ORIENTATION_TAG in exif:
                    exif[ORIENTATION_TAG] = 1
                out["exif"] = exif.tobytes()
    except Exception:  # noqa: BLE001 - unreadable metadata is dropped, the pixels still fuse
        return {}
    return out


def read_image(path: str) -> np.ndarray:
    """Read an image upright (EXIF orientation applied): uint8 or uint16, ``[H, W]`` grey or ``[H, W, 3]`` RGB."""
    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such file")
    # IMREAD_UNCHANGED keeps 16 bits and ignores the orientation, which orient() then applies
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
    turn = exif_orientation(path)
    return orient(img, turn) if turn != 1 else img


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


def write_image(path: str, img: np.ndarray, metadata: dict[str, bytes] | None = None,
                quality: int | None = None) -> None:
    """Write a uint8/uint16 grey or RGB image atomically (format from the extension).

    Args:
        path: the output file; its extension picks the format.
        img: ``[H, W]`` or ``[H, W, 3]`` uint8/uint16 (RGB order).
        metadata: ``exif`` and/or ``icc_profile`` bytes (as :func:`read_metadata`
            gives) to embed; kept in 8-bit JPEG, PNG, TIFF and WebP outputs.
        quality: JPEG/WebP quality 1-100 (None: 95).

    Raises:
        ImageError: a bad dtype, a 16-bit JPEG, a missing folder or an unwritable format.
    """
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: write uint8 or uint16 images, got {img.dtype} (use from_float)")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jpg", ".jpeg") and img.dtype == np.uint16:
        raise ImageError(f"{path}: JPEG cannot hold 16-bit images; use .png or .tif")
    if quality is not None and not 1 <= int(quality) <= 100:
        raise ImageError(f"{path}: quality must be 1 to 100, got {quality}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageError(f"{path}: folder {folder} does not exist")
    q = 95 if quality is None else int(quality)
    with atomic_output(path, ext or ".png") as tmp:
        if metadata and img.dtype == np.uint8 and ext in _METADATA_FORMATS:
            _write_with_pillow(tmp, img, ext, metadata, q)
            return
        bgr = img[..., ::-1] if img.ndim == 3 else img
        params = [cv2.IMWRITE_JPEG_QUALITY, q] if ext in (".jpg", ".jpeg") else (
            [cv2.IMWRITE_WEBP_QUALITY, q] if ext == ".webp" else [])
        if not cv2.imwrite(tmp, np.ascontiguousarray(bgr), params):
            raise ImageError(f"{path}: OpenCV could not write this format (extension '{ext}')")


def _write_with_pillow(tmp: str, img: np.ndarray, ext: str, metadata: dict[str, Any], quality: int) -> None:
    """An 8-bit image with its EXIF/ICC (OpenCV cannot embed them)."""
    from PIL import Image

    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}[ext]
    extra: dict[str, Any] = {k: v for k, v in metadata.items() if k in ("exif", "icc_profile") and v}
    if fmt in ("JPEG", "WEBP"):
        extra["quality"] = quality
    Image.fromarray(np.ascontiguousarray(img)).save(tmp, format=fmt, **extra)
