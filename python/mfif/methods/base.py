"""The interface every fusion method follows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the registry is importable without torch (the CLI's CPU stack path never loads it)
    import torch


@dataclass
class FusionResult:
    """What a pair fusion returns.

    Attributes:
        fused: ``[B, C, H, W]`` float in [0, 1], the fused image.
        weights: ``[B, H, W]`` float in [0, 1], the weight of source ``a`` in
            each pixel (1: taken from ``a``); for decision-map methods the
            final (smoothed) weight map.
        decision: ``[B, H, W]`` bool, True where ``a`` was judged in focus
            (the binary decision map), or None for methods without one.
    """

    fused: torch.Tensor
    weights: torch.Tensor
    decision: torch.Tensor | None = None


class FusionMethod(Protocol):
    """A fusion method: two registered sources in, one fused image out.

    ``a`` and ``b`` are float tensors ``[B, C, H, W]`` (C = 1 or 3) in [0, 1]
    on the same device; the method runs on that device. Stacks of N frames are
    fused by the stack driver on top of this (see :mod:`mfif.fusion`).
    """

    name: str

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult: ...
