"""Fusion methods as ``torch.nn.Module``: ``.to()``, ``.eval()``, ``state_dict`` and ``model(a, b)``.

A method object (``mfif.methods.get(name)``) is a plain object with
parameters; :class:`FusionModule` wraps one so that it composes with PyTorch
code. A method with learned weights (``liu2017``) gets its own copy of its
network as a submodule, so ``.to("cuda")``, ``.half()`` and ``state_dict()``
act on it; the hand-designed methods have no learned parameters (their work
follows the inputs' device). The protocol for a method with weights: a
``network(device)`` method returning its ``nn.Module``, and a ``net`` attribute
that, when set, is used instead of the method's own cached copy.

Examples:
    >>> import torch
    >>> from mfif.methods import FusionModule
    >>> model = FusionModule("gff").eval()
    >>> a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    >>> model(a, b).shape
    torch.Size([1, 3, 64, 64])
    >>> sorted(FusionModule("liu2017").state_dict())[:2]
    ['net.branch.conv1.bias', 'net.branch.conv1.weight']
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .._result import FusionResult


class FusionModule(nn.Module):
    """A fusion method as a module: ``forward(a, b)`` returns the fused ``[B, C, H, W]`` tensor.

    Args:
        method: a registered name (``"gff"``, ``"liu2017"``, ...) or a method
            object (copied, so the module owns its parameters).

    Examples:
        >>> m = FusionModule("focus")
        >>> m.method.radius
        8
    """

    def __init__(self, method: str | object = "gff") -> None:
        super().__init__()
        from . import get

        self.method = get(method) if isinstance(method, str) else copy.deepcopy(method)
        self.name: str = self.method.name
        self.net: nn.Module | None = None
        if hasattr(self.method, "network"):  # learned weights: a private copy, moved by .to()
            self.net = copy.deepcopy(self.method.network("cpu"))
            self.net.requires_grad_(False)
            self.method.net = self.net

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """The method's full result (fused image, weights, decision map)."""
        return self.method.fuse_pair(a, b)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Fuse two registered sources ``[B, C, H, W]`` (float in [0, 1], one device)."""
        return self.method.fuse_pair(a, b).fused

    def extra_repr(self) -> str:
        return f"method={self.name!r}"


__all__ = ["FusionModule"]
