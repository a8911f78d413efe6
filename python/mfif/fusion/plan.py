"""The fusion driver's decisions that need no pixels and no torch: the method, the tiles.

Shared by the torch driver (:mod:`mfif.fusion.api`), the torch-free CPU path
(:mod:`mfif.fusion.cpu_files`) and the CLI's progress bar, so that all three
count and cut the same way.
"""
from __future__ import annotations

from .. import methods as _methods
from .sources import StackError

# Frames above this many pixels are fused in tiles by default (methods with a finite halo).
AUTO_TILE_PIXELS = 24_000_000
AUTO_TILE_SIZE = 2048

Region = tuple[int, int, int, int]  # y0, y1, x0, x1


# Liu 2017's network reads 16x16 patches: smaller pairs go to GFF by default.
LIU_MIN_SIDE = 16


def default_method(n_frames: int, size: tuple[int, int] | None = None) -> str:
    """The method :func:`mfif.fuse` uses when none is named: Liu 2017 for pairs, ``pyramid`` for stacks.

    Pairs smaller than 16x16 pixels (``size`` is ``(H, W)``), which the network cannot
    read, and pairs on an install without it get GFF.
    """
    if n_frames > 2:
        return "pyramid"
    small = size is not None and min(size) < LIU_MIN_SIDE
    return "liu2017" if "liu2017" in _methods.available() and not small else "gff"


def method_name(method, n_frames: int, size: tuple[int, int] | None = None) -> str | None:
    """The registry name ``method`` stands for (None, a name, or an object with ``name``), lower case."""
    if method is None:
        return default_method(n_frames, size)
    if isinstance(method, str):
        return method.lower()
    return getattr(method, "name", None)


def resolve_method(method, n_frames: int, size: tuple[int, int] | None = None):
    """A method object from a name (see ``mfif.methods.available()``), an object, or None (the default for
    ``n_frames`` frames of ``size`` ``(H, W)``)."""
    if method is None:
        method = default_method(n_frames, size)
    if isinstance(method, str):
        names = _methods.available()
        if method.lower() not in names:
            raise StackError(f"unknown or unavailable fusion method {method!r}; available: {', '.join(names)}")
        return _methods.get(method)
    if type(method).__name__ == "PyramidParams":  # the pyramid's parameters alone (the CPU path's form)
        from dataclasses import asdict

        from ..methods.pyramid import PyramidStack

        return PyramidStack(**asdict(method))
    return method


def tile_grid(height: int, width: int, tile: int) -> list[Region]:
    """Cores of the tiles covering an image, ``tile`` pixels square (the last ones smaller)."""
    return [(y, min(y + tile, height), x, min(x + tile, width))
            for y in range(0, height, tile) for x in range(0, width, tile)]


def aligned_tile(tile: int, stream) -> int:
    """``tile`` rounded up to the method's tile grid (e.g. a pyramid's ``2^levels``)."""
    align = getattr(stream, "tile_align", 1)
    return -(-tile // align) * align


def check_tile(tile) -> None:
    """The one rule for a tile size, of :func:`mfif.fuse` and ``mfif fuse --tile``: a positive
    number of pixels, ``"auto"`` or None (``--tile none``)."""
    if tile == "auto" or tile is None:
        return
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise StackError(f"tile must be a positive number of pixels, 'auto' or None ('none'), got {tile!r}")


def parse_tile(value: str):
    """A command-line tile size: ``"auto"``, ``"none"``/``"off"`` (None) or a number of pixels, checked
    by :func:`check_tile`."""
    v = value.strip().lower()
    if v in ("auto", "none", "off"):
        return None if v != "auto" else "auto"
    try:
        n = int(v)
    except ValueError:
        raise StackError(f"tile {value!r}: give a number of pixels, 'auto' or 'none'") from None
    check_tile(n)
    return n


def tile_size(tile, H: int, W: int, stream) -> int | None:
    """The tile side the driver uses for ``tile`` (``"auto"``, None or pixels), None for one piece."""
    if tile == "auto":
        if H * W <= AUTO_TILE_PIXELS or stream.halo is None:
            return None
        return AUTO_TILE_SIZE
    if tile is None:
        return None
    check_tile(tile)
    if stream.halo is None and (tile < H or tile < W):
        raise StackError(f"method {stream.name!r} depends on the whole image and cannot be fused in tiles; "
                         "drop the tile size or choose a local method (gff, focus)")
    return tile if (tile < H or tile < W) else None


def tile_regions(H: int, W: int, tile: int, stream) -> list[tuple[Region, Region]]:
    """``(core, region)`` of every tile: the core it fills and the region (core and halo) it reads.

    ``tile`` is rounded up to the method's grid (``stream.tile_align``), the
    halo (``stream.halo``, the reach of the method's filters) likewise, so the
    tiles' results equal the untiled one inside their cores.
    """
    tile, halo = aligned_tile(tile, stream), aligned_tile(stream.halo, stream)
    return [((y0, y1, x0, x1), (max(0, y0 - halo), min(H, y1 + halo), max(0, x0 - halo), min(W, x1 + halo)))
            for y0, y1, x0, x1 in tile_grid(H, W, tile)]


def n_tiles(tile, H: int, W: int, stream) -> int:
    """How many tiles the driver cuts frames of ``H x W`` into (1: untiled)."""
    ts = tile_size(tile, H, W, stream)
    return len(tile_grid(H, W, aligned_tile(ts, stream))) if ts else 1
