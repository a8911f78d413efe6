"""mfif: multi-focus image fusion with fast C++/CUDA PyTorch ops.

Importing mfif loads the compiled kernels and registers them as
``torch.ops.mfif.*``; typed wrappers live in :mod:`mfif.ops` and pure-PyTorch
references of every op in :mod:`mfif.reference`.

The ``mfif`` command is the exception: it starts without torch and loads it
(and the ops) only when its job needs them, so that fusing a stack on the CPU
(OpenCV and numpy only) does not pay torch's 1.4 s and 220 MB of start-up.
"""
import os as _os
import sys as _sys


def _started_as_command() -> bool:
    """True while the ``mfif`` command starts: its console script, or ``python -m mfif.cli``; or in a
    process that asks for the command's lazy imports (``MFIF_LAZY_IMPORTS=1``: mfif.distributed's workers)."""
    if _os.environ.get("MFIF_LAZY_IMPORTS") == "1":
        return True
    script = _os.path.basename(_sys.argv[0]) if _sys.argv else ""
    if script in ("mfif", "mfif.exe", "mfif-script.py"):
        return True
    argv = getattr(_sys, "orig_argv", [])
    return script == "-m" and "-m" in argv[:-1] and argv[argv.index("-m") + 1] in ("mfif", "mfif.cli")


# The fusion API pulls in OpenCV and image I/O; a library that only wants the
# ops does not pay for it until it asks for mfif.fuse. In the command, the ops too.
_LAZY = {"fuse": ".fusion", "FuseResult": ".fusion", "metrics": ".metrics", "align": ".align"}
if _started_as_command():
    _LAZY.update(ops=".ops", reference=".reference", methods=".methods")
else:
    from . import ops, reference, methods  # noqa: F401  (loads the ops library: torch.ops.mfif.*)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return module if _LAZY[name] == "." + name else getattr(module, name)
    raise AttributeError(f"module 'mfif' has no attribute {name!r}")


__version__ = "0.1.0"


def cuda_kernels_available() -> bool:
    """True when this build of mfif contains CUDA kernels."""
    from . import _build_info

    return bool(_build_info.WITH_CUDA)


__all__ = ["ops", "reference", "methods", "fuse", "FuseResult", "metrics", "align", "cuda_kernels_available",
           "__version__"]
