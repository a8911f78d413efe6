"""``mfif.fuse``: fuse two images or a stack of N frames with any mfif method.

Examples:
    >>> import mfif
    >>> r = mfif.fuse(["near.png", "far.png"])                 # paths, arrays or tensors
    >>> r.fused, r.index                                        # image like the inputs, depth map
    >>> r = mfif.fuse(stack_paths, method="focus", device="cuda")
    >>> r = mfif.fuse(batch)                                    # tensor [B, N, C, H, W] -> r.fused [B, C, H, W]
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .. import methods as _methods
from .._extension import WITH_CUDA
from .sources import FrameSource, StackError, bit_depth, expand_inputs, open_sources
from .stack import SequentialPairs, as_streaming, bind_size, quantize, run_stack, tile_grid

# Frames above this many pixels are fused in tiles by default (methods with a finite halo).
AUTO_TILE_PIXELS = 24_000_000
AUTO_TILE_SIZE = 2048

Transform = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass
class FuseResult:
    """The outcome of :func:`fuse`.

    Attributes:
        fused: the fused image, in the form of the inputs: a numpy array
            ``[H, W]``/``[H, W, 3]`` of the inputs' dtype (uint8, uint16 or
            float32) for paths, arrays and lists of frame tensors (which are
            read one by one like files); a float tensor ``[C, H, W]`` on the
            compute device for a stack tensor ``[N, C, H, W]``, ``[B, C, H, W]``
            for a batch ``[B, N, C, H, W]``.
        index: the depth map, the frame each pixel came from (0 = first frame):
            numpy int32 ``[H, W]``, or int64 tensor ``[H, W]``/``[B, H, W]``.
        method: name of the method used.
        n_frames, size (H, W), channels, device: what was fused where.
        seconds: wall time of the fusion (loading included).
        tiles: number of tiles the frames were cut into (1: untiled).
        frame_names: the frames' paths (or ``image i``), in order.
    """

    fused: Any
    index: Any
    method: str
    n_frames: int
    size: tuple[int, int]
    channels: int
    device: str
    seconds: float
    tiles: int = 1
    frame_names: list[str] = field(default_factory=list)
    alignment: Any = None  # mfif.align.StackAlignment (a list of them for a batch), None when off
    align_note: str = ""

    @property
    def decision(self):
        """Bool map, True where the first image was chosen (the decision map of a pair)."""
        return self.index == 0

    def depth_image(self, dtype=np.uint8) -> np.ndarray:
        """The index map as a grey image: frame 0 black, the last frame white."""
        idx = self.index.cpu().numpy() if isinstance(self.index, torch.Tensor) else np.asarray(self.index)
        top = 255 if dtype == np.uint8 else 65535
        return np.rint(idx.astype(np.float64) * top / max(self.n_frames - 1, 1)).astype(dtype)

    def summary(self) -> str:
        """One line saying what was done."""
        h, w = self.size
        tiles = f" in {self.tiles} tiles" if self.tiles > 1 else ""
        kind = "grey" if self.channels == 1 else "colour"
        note = f"; {self.align_note}" if self.align_note else ""
        return (f"fused {self.n_frames} frames ({w}x{h} {kind}) with {self.method} on {self.device}{tiles} "
                f"in {self.seconds:.2f} s{note}")


def default_method(n_frames: int) -> str:
    """The method :func:`fuse` uses when none is named: Liu 2017 for pairs, ``pyramid`` for stacks."""
    if n_frames > 2:
        return "pyramid"
    return "liu2017" if "liu2017" in _methods.available() else "gff"


def resolve_method(method, n_frames: int):
    """A method object from a name (see ``mfif.methods.available()``), an object, or None."""
    if method is None:
        method = default_method(n_frames)
    if isinstance(method, str):
        names = _methods.available()
        if method.lower() not in names:
            raise StackError(f"unknown or unavailable fusion method {method!r}; available: {', '.join(names)}")
        return _methods.get(method)
    return method


def resolve_device(device, default: torch.device | None = None) -> torch.device:
    """A torch device the mfif kernels can run on; a clear error otherwise."""
    if device is None:
        if default is not None:
            return default
        return torch.device("cuda" if torch.cuda.is_available() and WITH_CUDA else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise StackError(f"{device!r} is not a device; use 'cpu' or 'cuda' (or 'cuda:N')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise StackError("device 'cuda' asked for, but torch sees no CUDA GPU; use --device cpu")
        if not WITH_CUDA:
            raise StackError("device 'cuda' asked for, but this build of mfif has no CUDA kernels; "
                             "use --device cpu or install a CUDA build")
    elif dev.type != "cpu":
        raise StackError(f"device {dev.type!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def _to_tensor(arr: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[H, W, C]`` uint8/uint16/float32 -> ``[1, C, H, W]`` float in [0, 1] on ``device``."""
    if device.type == "cpu" and dtype == torch.float32 and arr.ndim == 3 and arr.dtype in (np.uint8, np.uint16):
        # straight to float planes, one pass per channel (the same float32 products as the torch path)
        scale = 255.0 if arr.dtype == np.uint8 else 65535.0
        out = np.empty((arr.shape[2],) + arr.shape[:2], np.float32)
        for c in range(arr.shape[2]):
            np.multiply(arr[..., c], np.float32(1.0 / scale), out=out[c], dtype=np.float32)
        return torch.from_numpy(out)[None]
    if arr.dtype == np.uint16:
        arr = arr.astype(np.int32)  # torch has no general uint16 arithmetic
        scale = 65535.0
    else:
        scale = 255.0 if arr.dtype == np.uint8 else 1.0
    # reorder to planes while the pixels are small integers (a quarter of the bytes of floats)
    t = torch.from_numpy(np.ascontiguousarray(arr)).to(device, non_blocking=True).permute(2, 0, 1).contiguous()
    t = t[None].to(dtype)
    return t.mul_(1.0 / scale) if scale != 1.0 else t


def _source_getter(sources: list[FrameSource], device, dtype, transform: Transform | None, size=None):
    def get(i: int, region):
        arr = sources[i].load()
        if region is not None and transform is None:
            y0, y1, x0, x1 = region
            arr = arr[y0:y1, x0:x1]  # crop before converting: only the tile becomes float
        t = _to_tensor(arr, device, dtype)
        del arr
        if transform is not None:
            t = transform(t, i)
            if size is not None and tuple(t.shape[-2:]) != tuple(size):
                raise StackError(f"{sources[i].name}: the transform gave a {t.shape[-1]}x{t.shape[-2]} frame, "
                                 f"but frame 1 became {size[1]}x{size[0]}; all frames must come out one size")
            if region is not None:
                y0, y1, x0, x1 = region
                t = t[..., y0:y1, x0:x1]
        return t
    return get


def _spill(sources: list[FrameSource], folder: str, device, dtype, transform, progress) -> list[FrameSource]:
    """Decode each frame once into an uncompressed memory-mapped file, so tiles read only their part."""
    out = []
    for i, src in enumerate(sources):
        path = os.path.join(folder, f"frame{i:05d}.npy")
        if transform is None:
            arr = src.load()
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=arr.dtype, shape=arr.shape)
            mm[...] = arr
        else:
            t = transform(_to_tensor(src.load(), device, dtype), i)[0].permute(1, 2, 0).float().cpu().numpy()
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=t.shape)
            mm[...] = t
        mm.flush()
        shape, dt = mm.shape, mm.dtype.type
        del mm
        out.append(FrameSource(src.name, shape, dt, lambda p=path: np.load(p, mmap_mode="r"), in_memory=True))
        if progress is not None:
            progress(0)
    return out


def fuse(images, method=None, device=None, *, transform: Transform | None = None, tile="auto",
         dtype: torch.dtype = torch.float32, progress: Callable[[int], object] | None = None,
         spill_dir: str | None = None, align="auto", crop: bool = False,
         align_options: dict | None = None) -> FuseResult:
    """Fuse two images or a focus stack.

    Frames are read one at a time (twice for two-pass methods) and never all
    held in memory, so stacks of hundreds of frames need the memory of a few.

    Args:
        images: a list of frames (paths, numpy arrays ``[H, W]``/``[H, W, C]``
            uint8/uint16/float in [0, 1], tensors ``[C, H, W]``, or callables
            returning an array), a folder or glob pattern; or a float tensor
            ``[N, C, H, W]`` (one stack) or ``[B, N, C, H, W]`` (a batch of
            stacks, fused at once on the tensor's device).
        method: a name from ``mfif.methods.available()`` (``"liu2017"``,
            ``"gff"``, ``"pyramid"``, ``"focus"``, ...) or a method object;
            None picks Liu 2017 (GFF when it is not installed) for pairs and
            ``"pyramid"`` for stacks of three or more.
        device: ``"cpu"``, ``"cuda"``, or None (the tensors' device; for files,
            CUDA when available).
        transform: ``transform(frame, i) -> frame``, applied to each frame
            ``[1, C, H, W]`` as it is loaded (before tiling), e.g. a warp that
            aligns frame ``i``; all transformed frames must share one size.
        tile: tile side in pixels, None for no tiling, or ``"auto"`` (tiles of
            2048 for frames above 24 MP, when the method is local).
        dtype: compute dtype, float32 or float64.
        progress: called with the number of frames done since the last call.
        spill_dir: folder for the decoded frames when tiling file frames
            (default: the system's temporary folder); they are removed after.
        align: ``"auto"`` (default: stacks of three or more frames are registered
            to their middle frame when a frame moves by more than 1 px, a pair
            when it moves by more than 0.5 % of the diagonal), True/``"on"`` or
            False/``"off"``; see :mod:`mfif.align`.
            Applied before ``transform``; the result's ``alignment`` holds the transforms.
        crop: crop the result to the area every aligned frame covers.
        align_options: keyword arguments of :func:`mfif.align.estimate`
            (``model``, ``reference``, ``strategy``, ``exposure``, ...).

    Returns:
        A :class:`FuseResult`.

    Raises:
        StackError: fewer than two frames, missing/unreadable files, frames of
            different sizes, channel counts or bit depths, unknown method or device.
    """
    start = time.perf_counter()
    if isinstance(images, torch.Tensor):
        return _fuse_tensor(images, method, device, transform, dtype, start, align, crop, align_options)
    sources = open_sources(images)
    n = len(sources)
    from ..align._fusion import align_sources
    sources, alignment, align_note = align_sources(sources, align, crop, align_options)
    dev = resolve_device(device)
    m = resolve_method(method, n)
    bits = bit_depth(sources[0].dtype)
    if bits == 16 and hasattr(m, "for_bit_depth"):
        m = m.for_bit_depth(16)
    stream = as_streaming(m)
    H, W, C = sources[0].shape
    if transform is not None:  # the transform may change the size (e.g. a crop to the valid area)
        probe = transform(_to_tensor(sources[0].load(), dev, dtype), 0)
        H, W = probe.shape[-2:]
        del probe
    stream = bind_size(stream, H, W)
    tile_size = _tile_size(tile, H, W, stream)
    out_dtype = {8: np.uint8, 16: np.uint16}.get(bits, np.float32)
    # tiles are assembled on the CPU; 8-bit results are stored rounded (a quarter of the memory)
    assemble = torch.uint8 if bits == 8 else torch.float32
    n_tiles = len(tile_grid(H, W, _aligned(tile_size, stream))) if tile_size else 1
    with tempfile.TemporaryDirectory(prefix="mfif-spill-", dir=spill_dir) if n_tiles > 1 else nullcontext() as folder:
        frames = sources
        if n_tiles > 1 and not all(s.in_memory for s in sources):
            frames, transform = _spill(sources, folder, dev, dtype, transform, progress), None
        get = _source_getter(frames, dev, dtype, transform, size=(H, W))
        res = run_stack(get, n, (H, W), stream, tile=tile_size,
                        assemble=assemble, progress=progress)
    fused, index = res.fused[0], res.index[0].cpu().numpy().astype(np.int32)
    del res  # the method's running buffers can go before the output is converted
    if fused.dtype.is_floating_point and out_dtype != np.float32:
        fused = quantize(fused, bits)
    fused = fused.permute(1, 2, 0).cpu().numpy()
    fused = fused.astype(out_dtype) if fused.dtype != out_dtype else fused
    if fused.shape[2] == 1:
        fused = fused[..., 0]
    return FuseResult(fused=fused, index=index, method=stream.name,
                      n_frames=n, size=(H, W), channels=C, device=str(dev),
                      seconds=time.perf_counter() - start, tiles=n_tiles,
                      frame_names=[s.name for s in sources], alignment=alignment, align_note=align_note)


def _aligned(tile: int, stream) -> int:
    align = getattr(stream, "tile_align", 1)
    return -(-tile // align) * align


def _tile_size(tile, H: int, W: int, stream) -> int | None:
    if tile == "auto":
        if H * W <= AUTO_TILE_PIXELS or stream.halo is None:
            return None
        return AUTO_TILE_SIZE
    if tile is None:
        return None
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise StackError(f"tile must be a positive number of pixels, 'auto' or None, got {tile!r}")
    if stream.halo is None and (tile < H or tile < W):
        raise StackError(f"method {stream.name!r} depends on the whole image and cannot be fused in tiles; "
                         "drop the tile size or choose a local method (gff, focus)")
    return tile if (tile < H or tile < W) else None


def _fuse_tensor(x: torch.Tensor, method, device, transform, dtype, start, align="auto", crop=False,
                 align_options=None) -> FuseResult:
    """The batched tensor form: ``[N, C, H, W]`` or ``[B, N, C, H, W]`` float in [0, 1] (never tiled)."""
    batched = x.dim() == 5
    if x.dim() not in (4, 5) or x.shape[-3] not in (1, 3):
        raise StackError(f"a stack tensor must be [N, C, H, W] or [B, N, C, H, W] with C = 1 or 3, "
                         f"got {tuple(x.shape)}; give single frames as a list")
    if not x.dtype.is_floating_point:
        raise StackError(f"a stack tensor must be float in [0, 1], got {x.dtype}; use x.float() / 255")
    xb = x if batched else x[None]
    B, n, C, H, W = xb.shape
    if n < 2:
        raise StackError(f"got {n} frame(s); fusion needs at least two frames of one scene")
    dev = resolve_device(device, default=x.device)
    compute = dtype if x.dtype not in (torch.float32, torch.float64) else x.dtype
    stream = as_streaming(resolve_method(method, n))
    from ..align._fusion import tensor_transform
    align_tf, alignments, align_note = tensor_transform(xb, align, crop, align_options)
    if align_tf is not None and crop:
        H, W = align_tf(xb[:, 0], 0).shape[-2:]

    def get(i, region):
        t = xb[:, i].to(dev, compute)
        if align_tf is not None:
            t = align_tf(t, i)
        if transform is not None:
            t = transform(t, i)
        if region is not None:
            t = t[..., region[0]:region[1], region[2]:region[3]]
        return t

    res = run_stack(get, n, (H, W), stream)
    fused, index = res.fused.to(x.dtype), res.index
    if not batched:
        fused, index = fused[0], index[0]
    return FuseResult(fused=fused, index=index, method=stream.name, n_frames=n, size=(H, W), channels=C,
                      device=str(dev), seconds=time.perf_counter() - start,
                      alignment=(alignments if batched else alignments[0]) if alignments else None,
                      align_note=align_note)


__all__ = ["fuse", "FuseResult", "StackError", "FrameSource", "open_sources", "expand_inputs",
           "SequentialPairs", "run_stack", "default_method"]
