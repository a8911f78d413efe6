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
from typing import Any, Iterable

import cv2
import numpy as np

# EXIF tag 0x0112: how the stored pixels must be turned to be seen upright
ORIENTATION_TAG = 0x0112
_METADATA_FORMATS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An image could not be read or written; the message says which and why."""


# OpenCV's own ceiling on decoded pixels (CV_IO_MAX_IMAGE_PIXELS): larger headers are refused unread
MAX_PIXELS = 1 << 30


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
    check_complete(path)
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as e:  # e.g. a header claiming more pixels than OpenCV decodes (a decompression bomb)
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else "decoder error"
        raise ImageError(f"{path}: OpenCV refused to decode it ({reason})") from None
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


def check_complete(path: str) -> None:
    """Raise :class:`ImageError` for a truncated JPEG (libjpeg fills the missing rows with grey, warning on stderr).

    A complete JPEG ends with the EOI marker (FF D9), possibly followed by padding. When the
    tail says otherwise (data appended after the image, as in some camera formats, or a cut
    file), the file is decoded once with Pillow, which raises on a truncated stream.
    """
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return  # not a JPEG
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read().rstrip(b"\x00\xff\r\n ")
    if tail.endswith(b"\xff\xd9"):
        return
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except Exception as e:  # Pillow's truncation error is an OSError; anything else is as bad
        raise ImageError(f"{path}: the JPEG is truncated or corrupt ({e}); re-export or re-copy the file") from None


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


def same_file(a: str, b: str) -> bool:
    """True when paths ``a`` and ``b`` name one file: any spelling, symbolic or hard link."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def refuse_input(path: str, inputs: Iterable[str], what: str = "output") -> None:
    """Raise :class:`ImageError` when the output ``path`` is one of ``inputs`` (mfif never overwrites an input)."""
    for src in inputs:
        if same_file(path, src):
            raise ImageError(f"{what} {path} is one of the input files ({src}); mfif never overwrites an input, "
                             "choose another file name")


def check_output_path(path: str, inputs: Iterable[str], what: str = "output") -> None:
    """Refuse, before any work, an output that would overwrite an input or cannot be written.

    Raises :class:`ImageError` when ``path`` is one of ``inputs`` (any spelling,
    link or hard link), when its folder does not exist, when ``path`` is a
    folder, or when a file cannot be created in the folder (the system's reason
    is given: permission, read-only or special file system, ...).
    """
    refuse_input(path, inputs, what)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageError(f"{what} {path}: folder {folder} does not exist; create it first")
    if os.path.isdir(path):
        raise ImageError(f"{what} {path} is a folder; give a file name")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mfif-", dir=folder)
    except OSError as e:
        raise ImageError(f"{what} {path}: cannot write in {folder}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)


def _os_error(path: str, e: OSError) -> ImageError:
    return ImageError(f"{path}: cannot write: {e.strerror or e}")


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    A failure inside the block removes the temporary file, so ``path`` is
    either untouched or complete. The result gets the permissions a plain
    ``open(path, "w")`` would give (0666 less the umask), not mkstemp's 0600.
    """
    with atomic_outputs([path], [suffix]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_outputs(paths: list[str], suffixes: list[str]):
    """:func:`atomic_output` for several files at once: all of them are replaced, or none.

    The temporary files are renamed only after the block succeeded for all of
    them, so an error (a full disk, an interrupt) leaves every ``path`` as it was.
    OS errors (no permission, no space, a read-only file system) become
    :class:`ImageError` naming the file and the system's reason.
    """
    tmps: list[str] = []
    try:
        for path, suffix in zip(paths, suffixes):
            folder = os.path.dirname(os.path.abspath(path))
            try:
                fd, tmp = tempfile.mkstemp(prefix=".mfif-", suffix=suffix, dir=folder)
            except OSError as e:
                raise _os_error(path, e) from None
            os.close(fd)
            tmps.append(tmp)
        try:
            yield tuple(tmps)
        except OSError as e:
            raise _os_error(paths[min(len(paths) - 1, _failed_index(e, tmps))], e) from None
        umask = os.umask(0)
        os.umask(umask)
        for tmp, path in zip(tmps, paths):
            os.chmod(tmp, 0o666 & ~umask)
        for tmp, path in zip(tmps, paths):
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise _os_error(path, e) from None
    except BaseException:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def _failed_index(e: OSError, tmps: list[str]) -> int:
    """Which temporary file an OS error is about (its ``filename``), the first when unknown."""
    return tmps.index(e.filename) if e.filename in tmps else 0


def encode_image(path: str, img: np.ndarray, metadata: dict[str, bytes] | None = None,
                 quality: int | None = None) -> bytes:
    """A uint8/uint16 grey or RGB image encoded in the format of ``path``'s extension.

    Args:
        path: the output file's name; its extension picks the format.
        img: ``[H, W]`` or ``[H, W, 3]`` uint8/uint16 (RGB order).
        metadata: ``exif`` and/or ``icc_profile`` bytes (as :func:`read_metadata`
            gives) to embed; kept in 8-bit JPEG, PNG, TIFF and WebP outputs.
        quality: JPEG/WebP quality 1-100 (None: 95).

    Raises:
        ImageError: a bad dtype, a 16-bit JPEG, a bad quality or a format OpenCV cannot write.
    """
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: write uint8 or uint16 images, got {img.dtype} (use from_float)")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jpg", ".jpeg") and img.dtype == np.uint16:
        raise ImageError(f"{path}: JPEG cannot hold 16-bit images; use .png or .tif")
    if quality is not None and not 1 <= int(quality) <= 100:
        raise ImageError(f"{path}: quality must be 1 to 100, got {quality}")
    q = 95 if quality is None else int(quality)
    if metadata and img.dtype == np.uint8 and ext in _METADATA_FORMATS:
        return _encode_with_pillow(img, ext, metadata, q)
    bgr = img[..., ::-1] if img.ndim == 3 else img
    params = [cv2.IMWRITE_JPEG_QUALITY, q] if ext in (".jpg", ".jpeg") else (
        [cv2.IMWRITE_WEBP_QUALITY, q] if ext == ".webp" else [])
    try:
        ok, buf = cv2.imencode(ext or ".png", np.ascontiguousarray(bgr), params)
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"{path}: OpenCV cannot write the format '{ext}'; use .png, .tif or .jpg")
    return buf.tobytes()


def _encode_with_pillow(img: np.ndarray, ext: str, metadata: dict[str, Any], quality: int) -> bytes:
    """An 8-bit image with its EXIF/ICC (OpenCV cannot embed them)."""
    import io as _bytes_io

    from PIL import Image

    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}[ext]
    extra: dict[str, Any] = {k: v for k, v in metadata.items() if k in ("exif", "icc_profile") and v}
    if fmt in ("JPEG", "WEBP"):
        extra["quality"] = quality
    buf = _bytes_io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format=fmt, **extra)
    return buf.getvalue()


def write_images(items: list[tuple]) -> None:
    """Write uint8/uint16 grey or RGB images atomically, all or none (format from each extension).

    Each item is ``(path, img)`` or ``(path, img, metadata, quality)`` (see :func:`encode_image`).
    Encoding runs on two threads (OpenCV releases the GIL; one after the other when the
    process is limited to one thread, :mod:`mfif._threads`); the files are
    written and renamed into place only once every image is encoded and
    stored, so a failure (an OS error is reported as the system gives it, e.g.
    "No space left on device") leaves every output as it was.
    """
    from . import _threads

    for path, *_ in items:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ImageError(f"{path}: folder {folder} does not exist")
    if len(items) == 1:
        data = [encode_image(*items[0])]
    else:
        with _threads.executor(2, "mfif-encode") as pool:
            data = [job.result() for job in [pool.submit(encode_image, *item) for item in items]]
    paths = [item[0] for item in items]
    with atomic_outputs(paths, [os.path.splitext(p)[1] or ".png" for p in paths]) as tmps:
        for tmp, path, blob in zip(tmps, paths, data):
            try:
                with open(tmp, "wb") as f:
                    f.write(blob)
            except OSError as e:
                raise _os_error(path, e) from None


def write_image(path: str, img: np.ndarray, metadata: dict[str, bytes] | None = None,
                quality: int | None = None) -> None:
    """Write a uint8/uint16 grey or RGB image atomically (format from the extension).

    Args:
        path: the output file; its extension picks the format.
        img: ``[H, W]`` or ``[H, W, 3]`` uint8/uint16 (RGB order).
        metadata: ``exif`` and/or ``icc_profile`` bytes to embed (8-bit JPEG, PNG, TIFF, WebP).
        quality: JPEG/WebP quality 1-100 (None: 95).

    Raises:
        ImageError: a bad dtype, a 16-bit JPEG, a missing folder, an unwritable format or an OS error.
    """
    write_images([(path, img, metadata, quality)])
