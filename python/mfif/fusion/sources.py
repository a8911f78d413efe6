"""Lazy frame sources: paths, numpy arrays, tensors or loader callables.

A stack driver must never hold all frames, so a source is a small object that
knows the frame's shape and bit depth (read from the file header where the
format allows, so bad stacks are refused before any work) and loads the pixels
only when asked. Loaded frames are ``[H, W, C]`` numpy arrays (C = 1 or 3)
as stored (uint8, uint16 or float32 in [0, 1]).
"""
from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .. import io

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp", ".jp2", ".pgm", ".ppm")


class StackError(ValueError):
    """The frames given cannot be fused together; the message says why and how to fix it."""


class StackWarning(UserWarning):
    """A frame was left out of a folder's stack (the message says which and why)."""


@dataclass
class FrameSource:
    """One frame of a stack, loaded on demand.

    Attributes:
        name: what to call the frame in messages (a path, or ``"image 3"``).
        shape: ``(H, W, C)`` with C = 1 or 3.
        dtype: ``np.uint8``, ``np.uint16`` or ``np.float32`` (floats are in [0, 1]).
        loader: returns the frame as a numpy array ``[H, W, C]`` of ``dtype``.
        in_memory: True when loading costs nothing (an array, a memory map), so
            tiles may load the frame once each.
    """

    name: str
    shape: tuple[int, int, int]
    dtype: Any
    loader: Callable[[], np.ndarray]
    in_memory: bool = False
    _checked: bool = field(default=False, repr=False, compare=False)

    def load(self) -> np.ndarray:
        img = self.loader()
        if img.ndim == 2:
            img = img[..., None]
        if tuple(img.shape) != tuple(self.shape) or img.dtype != self.dtype:
            raise StackError(f"{self.name}: loaded a {_describe(img.shape)} {img.dtype} image, expected "
                             f"{_describe(self.shape)} {np.dtype(self.dtype).name} (the file changed or "
                             "its header disagrees with its pixels)")
        if img.dtype.kind == "f" and not self._checked:
            check_float_frame(img, self.name)
            self._checked = self.in_memory  # an array cannot change between loads; a loader's frame can
        return img


# Float frames may stray this far outside [0, 1] (resampling overshoot, rounding) with a warning;
# further out they are on another scale (0..255, 0..65535) and refused.
FLOAT_RANGE_SLACK = 0.5


class FloatRangeWarning(UserWarning):
    """A float frame has values outside [0, 1]; they are clipped to black or white."""


def check_float_frame(arr: np.ndarray, name: str) -> None:
    """The rules for float frames, the same for every method and both fusion drivers.

    NaN or Inf is refused (a filter would spread it over the image). Values must
    lie in [0, 1]: a frame whose range reaches beyond ``[-0.5, 1.5]`` is on
    another scale (0..255 floats, say) and is refused, naming the range and
    the fix; smaller excursions are clipped with a :class:`FloatRangeWarning`.

    Raises:
        StackError: NaN/Inf, or values far outside [0, 1].
    """
    check_value_range(float(np.min(arr)), float(np.max(arr)), name)  # NaN propagates through min/max


def check_value_range(lo: float, hi: float, name: str) -> None:
    """:func:`check_float_frame` on a frame's smallest and largest value (NaN if it has any)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise StackError(f"{name} contains NaN or Inf; clean it first (numpy.nan_to_num or torch.nan_to_num)")
    if lo >= 0.0 and hi <= 1.0:
        return
    if lo < -FLOAT_RANGE_SLACK or hi > 1.0 + FLOAT_RANGE_SLACK:
        raise StackError(f"{name}: float values span [{lo:g}, {hi:g}], but float frames must be in [0, 1]; "
                         "divide 8-bit values by 255 (16-bit by 65535), or give the integer image")
    import warnings

    warnings.warn(f"{name}: float values span [{lo:g}, {hi:g}], outside [0, 1]; they are clipped to black and "
                  "white (clip or rescale the frame to [0, 1] to silence this)", FloatRangeWarning, stacklevel=4)


def _describe(shape) -> str:
    h, w = shape[0], shape[1]
    c = shape[2] if len(shape) > 2 else 1
    return f"{w}x{h} {'grey' if c == 1 else f'{c}-channel'}"


def _png_header(path: str):
    """Shape and dtype of a PNG from its IHDR chunk (exact, 16-bit colour included)."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    depth, colour = head[24], head[25]
    if colour == 3 or depth not in (8, 16):
        return None  # palette or low bit depth: OpenCV expands it, decode to learn the result
    channels = 1 if colour in (0, 4) else 3
    return (h, w, channels), (np.uint16 if depth == 16 else np.uint8)


def _jpeg_header(path: str):
    from PIL import Image

    with Image.open(path) as im:
        if im.format != "JPEG" or im.mode not in ("L", "RGB"):
            return None
        w, h = im.size
        return (h, w, 1 if im.mode == "L" else 3), np.uint8


def _tiff_header(path: str):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        shape, dtype = page.shape, np.dtype(page.dtype)
    if dtype not in (np.uint8, np.uint16):
        return None
    if len(shape) == 2:
        return (shape[0], shape[1], 1), dtype.type
    if len(shape) == 3 and shape[2] in (3, 4):
        return (shape[0], shape[1], 3), dtype.type
    return None


def _header(path: str):
    """Shape and dtype from the file header without decoding, or None if unknown."""
    ext = os.path.splitext(path)[1].lower()
    probe = {".png": _png_header, ".jpg": _jpeg_header, ".jpeg": _jpeg_header,
             ".tif": _tiff_header, ".tiff": _tiff_header}.get(ext)
    if probe is None:
        return None
    try:
        head = probe(path)
    except Exception:  # unreadable header or a missing optional reader: decode instead
        return None
    if head is None:
        return None
    return io.oriented_shape(head[0], io.exif_orientation(path)), head[1]  # read_image turns the pixels upright


def _from_path(path: str) -> FrameSource:
    if not os.path.isfile(path):
        raise StackError(f"{path}: no such file")
    head = _header(path)
    if head is None:
        img = io.read_image(path)  # raises ImageError with a clear message
        shape = img.shape if img.ndim == 3 else img.shape + (1,)
        head = (tuple(shape), img.dtype)
        del img
    else:
        io.check_complete(path)  # a cut JPEG is refused now, not once its turn comes
    h, w = head[0][:2]
    if h * w > io.MAX_PIXELS:
        raise StackError(f"{path}: its header claims {w}x{h} pixels ({h * w / 1e9:.1f} Gpx), more than the "
                         f"{io.MAX_PIXELS / 1e9:.2f} Gpx OpenCV decodes; a corrupt file or a decompression bomb")

    def load():
        try:
            return io.read_image(path)
        except io.ImageError as e:  # the file changed since it was opened
            raise StackError(str(e)) from None

    return FrameSource(path, head[0], head[1], load)


def is_tensor(x) -> bool:
    """True for a torch tensor, without importing torch (a tensor means torch is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _from_array(x, name: str) -> FrameSource:
    if is_tensor(x):
        import torch

        t = x.detach()
        if t.device.type == "meta":
            raise StackError(f"{name}: a meta tensor holds no pixels; give a tensor on the CPU or a GPU")
        if t.dim() == 3:
            if t.shape[0] not in (1, 3):
                raise StackError(f"{name}: a tensor frame must be [C, H, W] with C = 1 or 3, got {tuple(t.shape)}")
            t = t.permute(1, 2, 0)
        elif t.dim() != 2:
            raise StackError(f"{name}: a tensor frame must be [C, H, W] or [H, W], got {tuple(t.shape)}")
        arr = t.cpu().numpy() if t.dtype != torch.bfloat16 else t.float().cpu().numpy()
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise StackError(f"{name}: expected a path, a numpy array or a torch tensor, got {type(x).__name__}")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise StackError(f"{name}: an array frame must be [H, W] or [H, W, C] with C = 1 or 3, got {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.dtype in (np.float16, np.float64):
        arr = arr.astype(np.float32)
    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise StackError(f"{name}: {arr.dtype} frames are not supported; use uint8, uint16 or float in [0, 1]")
    if arr.size == 0:
        raise StackError(f"{name}: the frame is empty ({arr.shape})")
    if arr.dtype.kind == "f":
        check_float_frame(arr, name)  # refused before any work
    return FrameSource(name, tuple(arr.shape), arr.dtype.type, lambda: arr, in_memory=True, _checked=True)


def _from_loader(load: Callable[[], np.ndarray], name: str) -> FrameSource:
    """A lazy loader's source: called once to learn the shape, its pixels dropped at return."""
    probe = _from_array(load(), name)
    return FrameSource(name, probe.shape, probe.dtype, load, in_memory=False)


def natural_key(name: str) -> list:
    """Sort key that orders numbers by value: ``img_9`` before ``img_10``.

    Examples:
        >>> sorted(["img_10.jpg", "img_9.jpg", "img_1.jpg"], key=natural_key)
        ['img_1.jpg', 'img_9.jpg', 'img_10.jpg']
    """
    return [(0, int(part), part) if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


def name_pattern(name: str) -> str:
    """A file name with its numbers replaced by ``#``: ``IMG_0012.JPG`` -> ``img_#.jpg``."""
    return re.sub(r"\d+", "#", os.path.basename(name).lower())


def _odd_names(names: list[str]) -> list[str]:
    """Names that do not follow the pattern most of the folder's frames share (e.g. an earlier result)."""
    patterns = [name_pattern(n) for n in names]
    common = max(set(patterns), key=patterns.count)
    if patterns.count(common) < 2 or patterns.count(common) * 2 <= len(names) or "#" not in common:
        return []
    return [n for n, p in zip(names, patterns) if p != common]


def expand_inputs(items: Sequence[str]) -> list[str]:
    """Paths from CLI-style arguments: files, folders and globs, in natural order (``img_9`` before ``img_10``).

    In a folder, images whose name does not follow the numbered pattern of the
    others (``fused.png`` among ``img_001.jpg`` ... ``img_040.jpg``) are left out
    with a warning: they are most often an earlier result. Name such a file on
    its own to include it.
    """
    out: list[str] = []
    for item in items:
        if os.path.isdir(item):
            names = sorted((n for n in os.listdir(item) if n.lower().endswith(IMAGE_EXTENSIONS)), key=natural_key)
            if not names:
                raise StackError(f"{item}: the folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            odd = _odd_names(names)
            if odd:
                from .._warn import warn

                warn(f"{item}: left out {', '.join(odd)}: the name does not follow the pattern of the other "
                     f"{len(names) - len(odd)} frames ({name_pattern(next(n for n in names if n not in odd))}); "
                     "name the file on its own to include it", StackWarning)
            out += [os.path.join(item, n) for n in names if n not in odd]
        elif any(ch in item for ch in "*?[") and not os.path.exists(item):
            found = sorted(glob.glob(item), key=natural_key)
            if not found:
                raise StackError(f"{item}: the pattern matches no file")
            out += found
        else:
            out.append(item)
    return out


def open_sources(images) -> list[FrameSource]:
    """Frame sources for ``images`` and a check that they can be fused together.

    Args:
        images: a sequence of paths, numpy arrays (``[H, W]``/``[H, W, C]``,
            uint8/uint16/float in [0, 1]), tensors (``[C, H, W]``/``[H, W]``),
            :class:`FrameSource` objects, or zero-argument callables returning
            a numpy array (a lazy loader); a folder or a glob pattern string.

    Returns:
        One :class:`FrameSource` per frame; all of one size, channel count and bit depth.

    Raises:
        StackError: fewer than two frames, a missing or unreadable file, frames of
            different sizes, channel counts or bit depths.
    """
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(images, np.ndarray) or is_tensor(images):
        raise StackError("give the frames as a list (a batched [B, N, C, H, W] tensor goes to mfif.fuse)")
    items = list(images)
    if all(isinstance(x, (str, os.PathLike)) for x in items):
        items = expand_inputs([os.fspath(x) for x in items])
    sources = []
    for i, x in enumerate(items):
        if isinstance(x, FrameSource):
            sources.append(x)
        elif isinstance(x, (str, os.PathLike)):
            try:
                sources.append(_from_path(os.fspath(x)))
            except io.ImageError as e:
                raise StackError(str(e)) from None
        elif callable(x):
            sources.append(_from_loader(x, f"image {i + 1}"))
        else:
            sources.append(_from_array(x, f"image {i + 1}"))
    if len(sources) < 2:
        raise StackError(f"got {len(sources)} image(s); fusion needs at least two frames of one scene")
    sizes = [s.shape[:2] for s in sources]
    common = max(set(sizes), key=sizes.count)
    if sizes.count(common) > 1 and sizes.count(common) < len(sizes):
        odd = [s for s in sources if s.shape[:2] != common]
        if len(odd) * 2 < len(sources):  # one or a few frames stand out: name them
            raise StackError(f"{', '.join(s.name for s in odd)}: {_describe(odd[0].shape)}, while the other "
                             f"{len(sources) - len(odd)} frames are {common[1]}x{common[0]}; all frames must have "
                             f"the same size: leave {'it' if len(odd) == 1 else 'them'} out (an earlier result?) "
                             "or resize")
    first = sources[0]
    for s in sources[1:]:
        if s.shape[:2] != first.shape[:2]:
            raise StackError(f"{s.name} is {_describe(s.shape)} but {first.name} is {_describe(first.shape)}; "
                             "all frames must have the same size (crop or resize them first)")
        if s.shape[2] != first.shape[2]:
            raise StackError(f"{s.name} is {_describe(s.shape)} but {first.name} is {_describe(first.shape)}; "
                             "convert all frames to colour or all to grey")
        if s.dtype != first.dtype:
            raise StackError(f"{s.name} is {np.dtype(s.dtype).name} but {first.name} is "
                             f"{np.dtype(first.dtype).name}; give all frames the same bit depth")
    return sources


def source_metadata(source: FrameSource) -> dict[str, bytes]:
    """EXIF/ICC of a frame read from a file (see :func:`mfif.io.read_metadata`); empty for arrays."""
    return io.read_metadata(source.name) if is_file(source.name) else {}


def is_file(name: str) -> bool:
    return isinstance(name, str) and os.path.isfile(name)


def bit_depth(dtype) -> int | None:
    """8 or 16 for integer frames, None for float frames."""
    return {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(np.dtype(dtype))
