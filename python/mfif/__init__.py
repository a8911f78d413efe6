"""mfif: multi-focus image fusion with fast C++/CUDA PyTorch ops.

``import mfif`` is cheap: it loads neither torch nor OpenCV. In a program
that has already imported torch it also registers the compiled ops
(``import torch, mfif`` then ``torch.ops.mfif.box_filter(...)`` works, as
libraries that use the raw ops expect); the rule depends only on whether
torch is loaded, never on how the program was started. Each part is imported on first use, as an attribute
(``mfif.ops``, ``mfif.fuse``, ``mfif.io``, ...) or by name
(``import mfif.ops``). Touching :mod:`mfif.ops` (or anything that computes
on torch) loads the compiled kernels and registers them as
``torch.ops.mfif.*``; typed wrappers live in :mod:`mfif.ops`, ``nn.Module``
forms in :mod:`mfif.ops.modules` and pure-PyTorch references of every op in
:mod:`mfif.reference`.

This is what lets the ``mfif`` command fuse a stack on the CPU with OpenCV
and numpy only, without torch's start-up time and memory.

Examples:
    >>> import mfif
    >>> r = mfif.fuse(["samples/coffee-near.jpg", "samples/coffee-far.jpg"])   # doctest: +SKIP
    >>> mfif.ops.box_filter                                                      # doctest: +ELLIPSIS
    <function box_filter at ...>
"""
from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

__version__ = "0.1.0"

# attribute -> module that provides it (a module's own name: the module itself)
_LAZY = {
    "ops": ".ops", "reference": ".reference", "methods": ".methods", "metrics": ".metrics",
    "align": ".align", "io": ".io", "models": ".models", "pipeline": ".pipeline", "fusion": ".fusion",
    "synthetic": ".synthetic", "colour": ".colour",
    "fuse": ".fusion", "FusionResult": "._result", "FuseResult": "._result",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        module = _importlib.import_module(_LAZY[name], __name__)
        value = module if _LAZY[name] == "." + name else getattr(module, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'mfif' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


def _register_ops_if_torch_is_loaded() -> None:
    import sys

    if "torch" in sys.modules:  # torch's cost is already paid: make torch.ops.mfif.* usable at once
        _importlib.import_module(".ops", __name__)


_register_ops_if_torch_is_loaded()


def cuda_kernels_available() -> bool:
    """True when this build of mfif contains CUDA kernels."""
    from . import _build_info

    return bool(_build_info.WITH_CUDA)


__all__ = ["ops", "reference", "methods", "fuse", "FusionResult", "FuseResult", "metrics", "align", "io",
           "models", "pipeline", "cuda_kernels_available", "__version__"]
