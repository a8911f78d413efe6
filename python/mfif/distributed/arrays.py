"""``fuse_array``: a stack of frames larger than memory, as a dask array, fused block by block.

Each block of the output is fused from the frames' block plus a margin of the
method's ``halo`` on every side, and only the block's core is kept: the tiling of :mod:`mfif.fusion.plan`, with the blocks
on the method's grid (``tile_align``, e.g. a pyramid's ``2^levels``) and the
method's size-dependent parameters fixed for the whole image. So the result
equals the tiled CPU path with tiles of the block size bit for bit, and the
untiled fusion up to the tiles' rounding (see ``tests/test_distributed_array.py``).

How a block gets its margin (``reads``):

* ``"region"`` (the default): the block's task reads its own region, margin
  included, from the frames (a slice of the dask array computed inside the
  task). Nothing is shared between the tasks, so a worker holds one block and
  its fusion, whatever the image's size. The frames' own chunks under a
  margin are read by each block that needs them (up to 9 times): cheap for
  frames stored in zarr or a TIFF, not for frames computed by a costly graph
  (store those first, or use ``"overlap"``).
* ``"overlap"``: ``dask.array.map_overlap``: each chunk of the frames is read
  once and its borders are handed to the neighbouring blocks; the scheduler
  keeps those pieces until every neighbour is done, about two rows of blocks
  across the whole width, so a worker's memory grows with the image's width
  (measured: 0.8 GB at 7680 px wide, 1.5 GB at 20000 with blocks of 1280).

No alignment: the frames of a mosaic are registered already.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from ..fusion.plan import aligned_tile, default_method, resolve_method
from ..fusion.sources import StackError

DEFAULT_CHUNK = 2048


def _bound_method(method, n: int, H: int, W: int, device: str):
    """The streaming method with its size-dependent parameters fixed for ``H x W``."""
    name = default_method(n) if method is None else method
    if isinstance(name, str) and name.lower() == "pyramid" and str(device) == "cpu":
        from ..methods.pyramid_params import PyramidParams

        return PyramidParams().for_size(H, W)  # the torch-free CPU path's form
    from ..fusion.stack import as_streaming, bind_size

    return bind_size(as_streaming(resolve_method(name, n)), H, W)


def _cuts(size: int, core: int, halo: int) -> tuple[int, ...]:
    """Chunk sizes along one axis: ``core`` each (on the method's grid), a last piece thinner than the
    halo joined to the one before (an overlap needs chunks at least as wide as the halo)."""
    sizes = [core] * (size // core) + ([size % core] if size % core else [])
    if len(sizes) > 1 and sizes[-1] < halo:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


class _Frames:
    """The frames' dask array, handed to each block's task as a plain object (not a dependency)."""

    def __init__(self, frames):
        self.frames = frames

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        # the synchronous scheduler, in the task's own thread: only the chunks under the region are read
        return np.asarray(self.frames[:, y0:y1, x0:x1].compute(scheduler="sync"))


def _fuse_region(source: _Frames, method, halo: int, device: str, out_dtype, size: tuple[int, int],
                 block_info=None) -> np.ndarray:
    """Fuse one output block from its region of the frames read with the halo (``reads="region"``)."""
    (y0, y1), (x0, x1) = block_info[None]["array-location"][:2]
    H, W = size
    ry0, ry1, rx0, rx1 = max(0, y0 - halo), min(H, y1 + halo), max(0, x0 - halo), min(W, x1 + halo)
    block = source.read(ry0, ry1, rx0, rx1)
    return _fuse_core(block, method, device, out_dtype, y0 - ry0, ry1 - y1, x0 - rx0, rx1 - x1)


def _fuse_core(block: np.ndarray, method, device: str, out_dtype, top: int, bottom: int, left: int,
               right: int) -> np.ndarray:
    """Fuse ``[N, h, w, C]``; return the core inside the margins as ``[h', w', C + 1]`` (fused, then index)."""
    from .. import fuse
    from .cluster import limit_threads

    limit_threads()
    n, h, w, C = block.shape
    r = fuse([block[k] for k in range(n)], method=method, device=device, tile=None, align="off")
    del block
    fused = np.asarray(r.fused).reshape(h, w, C)
    out = np.empty((h - top - bottom, w - left - right, C + 1), out_dtype)
    out[..., :C] = fused[top:h - bottom, left:w - right]
    out[..., C] = r.index[top:h - bottom, left:w - right]
    return out


def _fuse_block(block: np.ndarray, method, halo: int, device: str, out_dtype, block_info=None) -> np.ndarray:
    """Fuse one overlapped block ``[N, h, w, C]``; return its core as ``[h', w', C + 1]`` (fused, then index)."""
    loc, grid = block_info[0]["chunk-location"], block_info[0]["num-chunks"]
    top, left = (halo if loc[1] > 0 else 0), (halo if loc[2] > 0 else 0)
    bottom, right = (halo if loc[1] < grid[1] - 1 else 0), (halo if loc[2] < grid[2] - 1 else 0)
    return _fuse_core(block, method, device, out_dtype, top, bottom, left, right)


@dataclass
class ArrayFusion:
    """The lazy result of :func:`fuse_array`.

    Attributes:
        fused: dask array ``[H, W]`` or ``[H, W, C]``, the dtype of the frames.
        index: dask array ``[H, W]`` (uint8 up to 256 frames, else uint16), the depth map.
        method: the method's name; chunk: the blocks' side; halo: their margin.
    """

    fused: object
    index: object
    method: str
    chunk: int
    halo: int

    def write(self, path: str, depth_map: str | None = None, *, tile: int = 512) -> None:
        """Compute and store the result (on the active dask scheduler, e.g. a ``Client``).

        ``.zarr`` paths get zarr arrays chunked like the blocks; ``.tif``/``.tiff``
        a tiled (Big)TIFF, written band by band from a temporary zarr beside it.
        Each output appears complete or not at all (written aside, then renamed).

        Args:
            path: the fused image's path (``.zarr``, ``.tif`` or ``.tiff``).
            depth_map: the depth map's path, or None.
            tile: the TIFF tile side (a multiple of 16).
        """
        import dask.array as da

        targets = [(self.fused, path)] + ([(self.index, depth_map)] if depth_map is not None else [])
        for _, p in targets:
            ext = os.path.splitext(os.fspath(p).rstrip("/"))[1].lower()
            if ext not in (".zarr", ".tif", ".tiff"):
                raise ValueError(f"{p}: unknown format '{ext}'; write to .zarr, .tif or .tiff")
            folder = os.path.dirname(os.path.abspath(p))
            if not os.path.isdir(folder):
                raise ValueError(f"{p}: folder {folder} does not exist")
        if depth_map is not None and os.path.abspath(path) == os.path.abspath(depth_map):
            raise ValueError("the fused image and the depth map name the same path; give two different names")
        if tile % 16:
            raise ValueError(f"tile must be a multiple of 16 (TIFF), got {tile}")
        staged = []  # (temporary zarr, final path)
        try:
            arrays = []
            for arr, p in targets:
                tmp = tempfile.mkdtemp(prefix=".mfif-", suffix=".zarr", dir=os.path.dirname(os.path.abspath(p)))
                staged.append((tmp, p))
                arrays.append(_zarr_like(arr, tmp))
            da.store([a for a, _ in targets], arrays, lock=False)  # one graph: each block fused once
            for tmp, p in staged:
                if os.path.splitext(os.fspath(p).rstrip("/"))[1].lower() == ".zarr":
                    _replace_dir(tmp, p)
                else:
                    _zarr_to_tiff(tmp, p, tile)
        finally:
            for tmp, _ in staged:
                shutil.rmtree(tmp, ignore_errors=True)


def _zarr_like(arr, folder: str):
    import zarr

    chunks = tuple(c[0] for c in arr.chunks)
    return zarr.open_array(folder, mode="w", shape=arr.shape, chunks=chunks, dtype=arr.dtype)


def _replace_dir(tmp: str, path: str) -> None:
    """Move a finished folder into place; a folder already there is moved aside first, then removed."""
    old = None
    if os.path.exists(path):
        old = tempfile.mkdtemp(prefix=".mfif-old-", dir=os.path.dirname(os.path.abspath(path)))
        os.replace(path, os.path.join(old, "x"))
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _zarr_to_tiff(src: str, path: str, tile: int) -> None:
    """A tiled TIFF from a zarr array, reading one band of ``tile`` rows at a time."""
    import tifffile
    import zarr

    from ..io import atomic_output

    z = zarr.open_array(src, mode="r")
    H, W = z.shape[:2]

    def tiles():
        for y in range(0, H, tile):
            band = np.asarray(z[y:y + tile])
            for x in range(0, W, tile):
                t = band[:, x:x + tile]
                if t.shape[:2] != (tile, tile):  # edge tiles are padded to the full size
                    pad = [(0, tile - t.shape[0]), (0, tile - t.shape[1])] + [(0, 0)] * (t.ndim - 2)
                    t = np.pad(t, pad)
                yield t

    big = z.nbytes > 2**31
    with atomic_output(path, os.path.splitext(path)[1]) as tmp:
        tifffile.imwrite(tmp, tiles(), shape=z.shape, dtype=z.dtype, tile=(tile, tile), bigtiff=big,
                         photometric="rgb" if z.ndim == 3 and z.shape[2] == 3 else "minisblack")


def fuse_array(frames, method=None, *, chunk: int = DEFAULT_CHUNK, device: str = "cpu",
               reads: str = "region") -> ArrayFusion:
    """Fuse a stack of registered frames held as a (dask) array ``[N, H, W]`` or ``[N, H, W, C]``.

    Args:
        frames: a dask array (or a numpy array) of N >= 2 frames, uint8, uint16
            or float in [0, 1], C = 1 or 3; chunked in any way (it is rechunked
            to whole frames by blocks of ``chunk``).
        method: a method with a finite halo (``"pyramid"``, the default for
            stacks, ``"gff"``, ``"focus"``) or a method object.
        chunk: the blocks' side in pixels (rounded up to the method's grid, and to its halo).
        device: where each block is fused (``"cpu"``: the pyramid runs without torch).
        reads: how a block gets its margin: ``"region"`` (each task reads its region of the
            frames: a worker's memory is one block's, whatever the image's size) or
            ``"overlap"`` (``map_overlap``: the frames' chunks read once, their borders kept
            for the neighbours; see the module's notes). The same result either way.

    Returns:
        An :class:`ArrayFusion` of lazy dask arrays; call ``.write(...)`` or compute them.

    Raises:
        StackError: a bad shape or dtype, fewer than two frames, or a method that
            depends on the whole image (no halo).

    Examples:
        >>> import dask.array as da
        >>> frames = da.from_zarr("stack.zarr")  # [3, 20000, 20000, 3] uint8  # doctest: +SKIP
        >>> fuse_array(frames).write("fused.zarr", depth_map="depth.zarr")  # doctest: +SKIP
    """
    import dask.array as da

    if not isinstance(frames, da.Array):
        frames = da.from_array(np.asarray(frames), chunks=-1)
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[3] not in (1, 3):
        raise StackError(f"frames must be [N, H, W] or [N, H, W, C] with C = 1 or 3, got {frames.shape}")
    n, H, W, C = frames.shape
    if n < 2:
        raise StackError(f"got {n} frame(s); fusion needs at least two frames of one scene")
    if frames.dtype in (np.float16, np.float64):
        frames = frames.astype(np.float32)
    if frames.dtype not in (np.uint8, np.uint16, np.float32):
        raise StackError(f"{frames.dtype} frames are not supported; use uint8, uint16 or float in [0, 1]")
    if chunk < 1:
        raise StackError(f"chunk must be a positive number of pixels, got {chunk}")
    if reads not in ("region", "overlap"):
        raise ValueError(f"reads must be 'region' or 'overlap', got {reads!r}")
    stream = _bound_method(method, n, H, W, device)
    if stream.halo is None:
        raise StackError(f"method {stream.name!r} depends on the whole image and cannot be fused in blocks; "
                         "choose a local method (pyramid, gff, focus)")
    # blocks at least as wide as the halo: an overlap reaches into the neighbouring block only
    halo = aligned_tile(stream.halo, stream)
    core = aligned_tile(max(chunk, halo), stream)
    ys, xs = _cuts(H, core, halo), _cuts(W, core, halo)
    index_dtype = np.uint8 if n <= 256 else np.uint16
    both = np.result_type(frames.dtype, index_dtype)
    if reads == "region":
        combined = da.map_blocks(_fuse_region, chunks=(ys, xs, (C + 1,)), dtype=both,
                                 meta=np.empty((0, 0, 0), both), source=_Frames(frames), method=stream, halo=halo,
                                 device=device, out_dtype=both, size=(H, W))
    else:
        frames = frames.rechunk({0: n, 1: ys, 2: xs, 3: C})
        depth = {0: 0, 1: halo if len(ys) > 1 else 0, 2: halo if len(xs) > 1 else 0, 3: 0}
        combined = da.map_overlap(_fuse_block, frames, depth=depth, boundary="none", trim=False, drop_axis=0,
                                  chunks=(ys, xs, (C + 1,)), dtype=both, meta=np.empty((0, 0, 0), both),
                                  method=stream, halo=halo, device=device, out_dtype=both)
    fused = combined[..., :C].astype(frames.dtype)
    fused = fused[..., 0] if C == 1 else fused
    index = combined[..., C].astype(index_dtype)
    return ArrayFusion(fused=fused, index=index, method=stream.name, chunk=core, halo=halo)
