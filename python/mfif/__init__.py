"""mfif: multi-focus image fusion with fast C++/CUDA PyTorch ops.

Importing mfif loads the compiled kernels and registers them as
``torch.ops.mfif.*``; typed wrappers live in :mod:`mfif.ops` and pure-PyTorch
references of every op in :mod:`mfif.reference`.
"""
from ._extension import TORCH_VERSION as _TORCH_VERSION, WITH_CUDA as _WITH_CUDA
from . import ops, reference, methods

# The fusion API pulls in OpenCV and image I/O; a library that only wants the
# ops does not pay for it until it asks for mfif.fuse.
_LAZY = {"fuse": ".fusion", "FuseResult": ".fusion", "metrics": ".metrics", "align": ".align"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return module if _LAZY[name] == "." + name else getattr(module, name)
    raise AttributeError(f"module 'mfif' has no attribute {name!r}")


__version__ = "0.1.0"


def cuda_kernels_available() -> bool:
    """True when this build of mfif contains CUDA kernels."""
    return _WITH_CUDA


__all__ = ["ops", "reference", "methods", "fuse", "FuseResult", "metrics", "align", "cuda_kernels_available",
           "__version__"]
