"""The interface every fusion method follows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .._result import FusionResult

if TYPE_CHECKING:  # the registry is importable without torch (the CLI's CPU stack path never loads it)
    import torch


class FusionMethod(Protocol):
    """A fusion method: two registered sources in, one fused image out.

    ``a`` and ``b`` are float tensors ``[B, C, H, W]`` (C = 1 or 3) in [0, 1]
    on the same device; the method runs on that device. Stacks of N frames are
    fused by the stack driver on top of this (see :mod:`mfif.fusion`).
    """

    name: str

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult: ...
