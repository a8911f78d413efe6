"""What :func:`mfif.fuse` returns (importable without torch): :class:`mfif.FusionResult`."""
from __future__ import annotations

from .._result import FuseResult, FusionResult

__all__ = ["FusionResult", "FuseResult"]
