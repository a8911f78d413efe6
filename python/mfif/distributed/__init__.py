"""Fusion past one machine, on ``dask.distributed``: many stacks, and images larger than memory.

This subpackage is the optional extra ``pip install 'mfif[distributed]'``
(dask, distributed, zarr, tifffile); the rest of mfif never imports it.

* :func:`fuse_many` fuses many stacks (folders of frames), one task per stack,
  with exactly the code of ``mfif fuse`` (every option of the command, the
  same bytes out), on a local cluster or on a running scheduler. Outputs are
  written atomically by the worker; a task whose worker dies is run again on
  another; a run started again skips the stacks whose outputs are complete;
  a bad stack fails alone. The command is ``mfif fuse-many``.
* :func:`fuse_array` fuses a dask array of frames ``[N, H, W(, C)]`` (a
  mosaic read from zarr or a big TIFF) block by block with ``map_overlap``
  and the method's halo, so the result equals the untiled fusion while each
  worker holds a few blocks; :meth:`ArrayFusion.write` stores it to zarr or TIFF.

Examples:
    >>> from mfif.distributed import fuse_many, fuse_array
    >>> report = fuse_many(["run/*/"], "out/{name}.tif", depth_maps="out/{name}-depth.png")  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    >>> import dask.array as da
    >>> fuse_array(da.from_zarr("mosaic.zarr")).write("fused.zarr", depth_map="depth.zarr")  # doctest: +SKIP
"""
from __future__ import annotations

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(f"mfif.distributed needs dask.distributed ({e.name} is missing); "
                      "install it with: pip install 'mfif[distributed]'") from None

from .arrays import ArrayFusion, fuse_array
from .cluster import connect
from .many import ManyReport, StackOutcome, fuse_many
from .stacks import StackJob, fuse_options, is_complete, plan_jobs

__all__ = ["fuse_many", "fuse_array", "ArrayFusion", "ManyReport", "StackOutcome", "StackJob", "connect",
           "fuse_options", "plan_jobs", "is_complete"]
