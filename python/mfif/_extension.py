"""Load the compiled mfif ops and check that they match the running torch."""
from __future__ import annotations

import glob
import os

import torch  # must be imported before the ops library is loaded

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_REBUILD_HINT = (
    "Rebuild mfif against the torch you have: "
    "`pip install --no-build-isolation --force-reinstall --no-deps .` "
    "(or, for a development tree, `cmake --build build/dev`)."
)


def _find_library() -> str:
    candidates = sorted(glob.glob(os.path.join(_PKG_DIR, "libmfif_ops*.so")))
    if not candidates:
        raise ImportError(
            f"mfif: the compiled ops library (libmfif_ops.so) is not in {_PKG_DIR}. "
            "mfif was not built, or was copied without it. Build it with "
            "`pip install --no-build-isolation .` after installing torch."
        )
    return candidates[0]


def _check_torch_version() -> tuple[str, bool]:
    try:
        from . import _build_info
    except ImportError as exc:  # pragma: no cover - broken install
        raise ImportError(f"mfif: build information is missing ({exc}). {_REBUILD_HINT}") from exc
    built = _build_info.TORCH_VERSION
    running = torch.__version__
    if built != running:
        raise ImportError(
            f"mfif was compiled against torch {built} but torch {running} is installed; "
            f"C++ ops are not portable across torch versions. {_REBUILD_HINT}"
        )
    return built, bool(_build_info.WITH_CUDA)


TORCH_VERSION, WITH_CUDA = _check_torch_version()
LIBRARY_PATH = _find_library()
torch.ops.load_library(LIBRARY_PATH)
