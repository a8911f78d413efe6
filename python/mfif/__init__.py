"""mfif: multi-focus image fusion with fast C++/CUDA PyTorch ops.

Importing mfif loads the compiled kernels and registers them as
``torch.ops.mfif.*``; typed wrappers live in :mod:`mfif.ops` and pure-PyTorch
references of every op in :mod:`mfif.reference`.
"""
from ._extension import TORCH_VERSION as _TORCH_VERSION, WITH_CUDA as _WITH_CUDA
from . import ops, reference, methods
from .fusion import FuseResult, fuse

__version__ = "0.1.0"


def cuda_kernels_available() -> bool:
    """True when this build of mfif contains CUDA kernels."""
    return _WITH_CUDA


__all__ = ["ops", "reference", "methods", "fuse", "FuseResult", "cuda_kernels_available", "__version__"]
