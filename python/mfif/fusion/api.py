"""The torch driver behind :func:`mfif.fuse`: any method, on the CPU or CUDA, tiled or not.

:func:`mfif.fuse` sends a job here unless the torch-free CPU path
(:mod:`mfif.fusion.cpu_files`) can run it; see its docstring for the arguments.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch

from .._extension import WITH_CUDA
from .plan import n_tiles as _n_tiles, resolve_method, tile_size as _tile_size
from .planes import to_planes
from .result import FuseResult
from .sources import FrameSource, StackError, bit_depth, check_value_range, open_sources, source_metadata
from .stack import as_streaming, bind_size, quantize, run_stack

Transform = Callable[[torch.Tensor, int], torch.Tensor]

_log = logging.getLogger(__name__)


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
        return torch.from_numpy(to_planes(arr))[None]  # straight to float planes, one pass per channel
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
        out.append(FrameSource(src.name, shape, dt, lambda p=path: np.load(p, mmap_mode="r"), in_memory=True,
                               _checked=transform is None))  # a copy of a checked frame, or a transform's output
        if progress is not None:
            progress(0)
    return out


def fuse(images, method=None, device=None, *, transform: Transform | None = None, tile="auto",
         dtype: torch.dtype | None = None, progress: Callable[[int], object] | None = None,
         spill_dir: str | None = None, align="auto", crop: bool = False,
         align_options: dict | None = None) -> FuseResult:
    """:func:`mfif.fuse` on torch (the arguments are documented there)."""
    dtype = torch.float32 if dtype is None else dtype
    start = time.perf_counter()
    if isinstance(images, torch.Tensor):
        return _fuse_tensor(images, method, device, transform, dtype, start, align, crop, align_options)
    if isinstance(images, (list, tuple)) and images and all(isinstance(x, torch.Tensor) for x in images):
        return _fuse_tensor_list(list(images), method, device, transform, dtype, start, align, crop,
                                 align_options)
    sources = open_sources(images)
    n = len(sources)
    from ..align._fusion import align_sources
    sources, alignment, align_note = align_sources(sources, align, crop, align_options)
    _log.info("%s", align_note)
    dev = resolve_device(device)
    m = resolve_method(method, n, sources[0].shape[:2])
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
    n_tiles = _n_tiles(tile, H, W, stream)
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
                      frame_names=[s.name for s in sources], alignment=alignment, align_note=align_note,
                      metadata=source_metadata(sources[0]))


def _fuse_tensor(x: torch.Tensor, method, device, transform, dtype, start, align="auto", crop=False,
                 align_options=None) -> FuseResult:
    """The batched tensor form: ``[N, C, H, W]`` or ``[B, N, C, H, W]`` float in [0, 1] (never tiled)."""
    batched = x.dim() == 5
    if x.dim() not in (4, 5) or x.shape[-3] not in (1, 3):
        raise StackError(f"a stack tensor must be [N, C, H, W] or [B, N, C, H, W] with C = 1 or 3, "
                         f"got {tuple(x.shape)}; give single frames as a list")
    if not x.dtype.is_floating_point:
        raise StackError(f"a stack tensor must be float in [0, 1], got {x.dtype}; use x.float() / 255")
    if x.device.type == "meta":
        raise StackError("the stack tensor is a meta tensor and holds no pixels; give it on the CPU or a GPU")
    if x.numel() == 0:
        raise StackError(f"the stack tensor is empty ({tuple(x.shape)})")
    lo, hi = torch.aminmax(x.detach())
    check_value_range(float(lo), float(hi), "the stack tensor")
    xb = x if batched else x[None]
    if xb.shape[1] < 2:
        raise StackError(f"got {xb.shape[1]} frame(s); fusion needs at least two frames of one scene")
    frames = [xb[:, i] for i in range(xb.shape[1])]
    res = _run_tensors(frames, method, device, transform, dtype, start, align, crop, align_options)
    if not batched:
        res.fused, res.index, res.decision = res.fused[0], res.index[0], res.decision[0]
        res.alignment = res.alignment[0] if res.alignment else None
    return res


def _fuse_tensor_list(items: list[torch.Tensor], method, device, transform, dtype, start, align="auto",
                      crop=False, align_options=None) -> FuseResult:
    """A list of ``[C, H, W]`` (or ``[H, W]``) float tensors: fused on their device, returned as tensors."""
    frames = []
    for i, t in enumerate(items):
        t = t[None] if t.dim() == 2 else t
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise StackError(f"image {i + 1}: a tensor frame must be [C, H, W] with C = 1 or 3 or [H, W], "
                             f"got {tuple(items[i].shape)}")
        if not t.dtype.is_floating_point:
            raise StackError(f"image {i + 1}: tensor frames must be float in [0, 1], got {t.dtype}; "
                             "use t.float() / 255")
        if t.device.type == "meta":
            raise StackError(f"image {i + 1}: a meta tensor holds no pixels; give it on the CPU or a GPU")
        if frames and t.shape != frames[0].shape[1:]:
            raise StackError(f"image {i + 1} is {tuple(t.shape)} but image 1 is {tuple(frames[0].shape[1:])}; "
                             "all frames must have one shape")
        if frames and t.device != frames[0].device:
            raise StackError(f"image {i + 1} is on {t.device} but image 1 is on {frames[0].device}; "
                             "put all frames on one device")
        if t.numel() == 0:
            raise StackError(f"image {i + 1} is empty ({tuple(t.shape)})")
        lo, hi = torch.aminmax(t.detach())
        check_value_range(float(lo), float(hi), f"image {i + 1}")
        frames.append(t[None])
    if len(frames) < 2:
        raise StackError(f"got {len(frames)} image(s); fusion needs at least two frames of one scene")
    res = _run_tensors(frames, method, device, transform, dtype, start, align, crop, align_options)
    res.fused, res.index, res.decision = res.fused[0], res.index[0], res.decision[0]
    res.alignment = res.alignment[0] if res.alignment else None
    res.frame_names = [f"image {i + 1}" for i in range(len(frames))]
    return res


def _run_tensors(frames: list[torch.Tensor], method, device, transform, dtype, start, align, crop,
                 align_options) -> FuseResult:
    """N frames ``[B, C, H, W]`` fused on the device: results ``[B, ...]``, alignments a list (never tiled)."""
    B, C, H, W = frames[0].shape
    n = len(frames)
    dev = resolve_device(device, default=frames[0].device)
    in_dtype = frames[0].dtype
    compute = dtype if in_dtype not in (torch.float32, torch.float64) else in_dtype
    stream = as_streaming(resolve_method(method, n, (H, W)))
    from ..align._fusion import tensor_transform
    align_tf, alignments, align_note = tensor_transform(frames, align, crop, align_options)
    if align_tf is not None and crop:
        H, W = align_tf(frames[0], 0).shape[-2:]

    def get(i, region):
        t = frames[i].to(dev, compute)
        if align_tf is not None:
            t = align_tf(t, i)
        if transform is not None:
            t = transform(t, i)
        if region is not None:
            t = t[..., region[0]:region[1], region[2]:region[3]]
        return t

    res = run_stack(get, n, (H, W), stream)
    return FuseResult(fused=res.fused.to(in_dtype), index=res.index, method=stream.name, n_frames=n, size=(H, W),
                      channels=C, device=str(dev), seconds=time.perf_counter() - start,
                      alignment=alignments or None, align_note=align_note)


__all__ = ["fuse", "resolve_device"]
