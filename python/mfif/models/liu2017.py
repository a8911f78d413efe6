"""The siamese focus network of Liu et al. 2017 (paper 001, section II).

Per branch (weights shared by the two branches): conv 3x3 1->64, ReLU,
conv 3x3 64->128, ReLU, max-pool 2x2 stride 2, conv 3x3 128->256, ReLU, every
convolution with stride 1 and padding 1. The two branches' 256 maps are
concatenated (512 maps, branch of the first source first) and the fully
connected layers of the paper (512*8*8 -> 256 -> 2) run as convolutions.

At inference the official code applies no bias and no nonlinearity between
the two fully connected layers, so they compose into ONE 8x8 convolution
512 -> 2 (:func:`fold_head`); that is the head this module keeps. It is the
same function class as the paper's linear head at about 1/128 of its cost.

Applied densely to two grey images ``H x W`` the network gives logits
``[B, 2, ceil(H/2) - 7, ceil(W/2) - 7]``: the max-pool rounds up
(``ceil_mode``), so an odd last row/column is pooled alone, as in the paper's
size formula. Channel 0 is the class "the first source is in focus".
"""
from __future__ import annotations

import copy
import os
import warnings
import weakref
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LiuBranch", "LiuNet", "fold_head", "load_liu2017", "WEIGHTS_PATH", "PATCH", "STRIDE"]

PATCH = 16   # training patch size = receptive field of one score
STRIDE = 2   # one 2x2 max-pool: neighbouring scores are 2 pixels apart
HEAD = 8     # the first fully connected layer as an 8x8 convolution on the pooled maps

WEIGHTS_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "liu2017.pt")


class LiuBranch(nn.Module):
    """One branch: conv1 (64), conv2 (128), 2x2 max-pool, conv3 (256), ReLU after each conv.

    Input ``[B, 1, H, W]`` grey in [0, 1]; output ``[B, 256, ceil(H/2), ceil(W/2)]``.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv3 = nn.Conv2d(128, 256, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ReLU in place (convolution backward needs no output) and the max-pool before conv2's ReLU:
        # max(relu(x)) == relu(max(x)), so the ReLU runs on a quarter of the full-resolution 128 maps.
        # Both passes are memory-bound: liu2017 on a 520x520 pair 1.97 -> 1.76 s, 1920x1080 12.5 -> 10.7 s
        # (2 CPU cores, eager).
        x = F.relu(self.conv1(x), inplace=True)
        x = F.max_pool2d(self.conv2(x), 2, stride=2, ceil_mode=True)
        x = F.relu(x, inplace=True)
        return F.relu(self.conv3(x), inplace=True)


def fold_head(w1: torch.Tensor, b1: torch.Tensor | None, w2: torch.Tensor, b2: torch.Tensor | None):
    r"""Compose the two fully connected layers (as convolutions) into one 8x8 convolution.

    With ``fc1``: 8x8 conv ``w1`` ``[C1, 512, 8, 8]`` (bias ``b1``) and ``fc2``:
    1x1 conv ``w2`` ``[2, C1, 1, 1]`` or ``[2, C1]`` (bias ``b2``) and nothing
    between them, ``fc2(fc1(x)) = conv(x, W) + b`` with
    :math:`W = w_2 w_1` (over the ``C1`` channels) and :math:`b = w_2 b_1 + b_2`.

    Args:
        w1: ``[C1, Cin, k, k]``. b1: ``[C1]`` or None.
        w2: ``[Cout, C1, 1, 1]`` or ``[Cout, C1]``. b2: ``[Cout]`` or None.

    Returns:
        ``(weight [Cout, Cin, k, k], bias [Cout])``.

    Examples:
        >>> w, b = fold_head(torch.randn(256, 512, 8, 8), torch.randn(256), torch.randn(2, 256, 1, 1), torch.randn(2))
        >>> w.shape, b.shape
        (torch.Size([2, 512, 8, 8]), torch.Size([2]))
    """
    if w1.dim() != 4:
        raise ValueError(f"w1 must be a conv weight [C1, Cin, k, k], got {tuple(w1.shape)}")
    w2m = w2.reshape(w2.shape[0], -1)
    if w2m.shape[1] != w1.shape[0]:
        raise ValueError(f"w2 has {w2m.shape[1]} inputs but w1 has {w1.shape[0]} outputs")
    weight = (w2m @ w1.reshape(w1.shape[0], -1)).reshape(w2m.shape[0], *w1.shape[1:])
    bias = torch.zeros(w2m.shape[0], dtype=w1.dtype, device=w1.device)
    if b1 is not None:
        bias = bias + w2m @ b1
    if b2 is not None:
        bias = bias + b2
    return weight, bias


# CPU inference: a frozen TorchScript copy of the branch, which oneDNN runs with prepacked weights and
# each ReLU fused into its convolution (the same arithmetic: equal to the bit on the development machine,
# and about 35 % faster on 2 cores). One copy per network, rebuilt when its weights change (their storage
# or version counter); None where TorchScript is unavailable, and the eager branch serves.
_FROZEN_BRANCHES: "weakref.WeakKeyDictionary[LiuBranch, tuple]" = weakref.WeakKeyDictionary()
# Largest batch (images x pixels) given to the frozen copy. It wins up to a pair of 1920x1080 frames (x 1.8)
# but lost on a pair of 3840x2160 ones (84.5 s against 50.2 s, benchmarks/bench_liu2017.py); dense_scores
# feeds it tiles of about 1 Mpx.
FROZEN_MAX_PIXELS = 4_500_000


def _frozen_branch(branch: LiuBranch):
    try:
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in branch.parameters())
    except RuntimeError:  # inference tensors track no version: nothing tells when to rebuild
        return None
    hit = _FROZEN_BRANCHES.get(branch)
    if hit is None or hit[0] != key:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript's deprecation notice
                scripted = torch.jit.script(copy.deepcopy(branch).eval())
                frozen = torch.jit.optimize_for_inference(torch.jit.freeze(scripted))
        except Exception:  # noqa: BLE001 - any failure of TorchScript leaves the eager branch
            frozen = None
        hit = _FROZEN_BRANCHES[branch] = (key, frozen)
    return hit[1]


class LiuNet(nn.Module):
    """The siamese network with the folded head (one 8x8 conv 512 -> 2).

    ``forward(a, b)`` gives the two-channel logits; :meth:`scores` the
    probability map that ``a`` is in focus through the fused ``score_map`` op.

    Examples:
        >>> net = LiuNet()
        >>> net(torch.rand(1, 1, 37, 40), torch.rand(1, 1, 37, 40)).shape
        torch.Size([1, 2, 12, 13])
    """

    def __init__(self):
        super().__init__()
        self.branch = LiuBranch()
        self.head = nn.Conv2d(512, 2, HEAD)

    def features(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both branches at once (one batch of 2B images): ``([B,256,h',w'], [B,256,h',w'])``.

        Without gradients on the CPU (float32, up to ``FROZEN_MAX_PIXELS``) a frozen TorchScript copy of the
        branch computes them, the same values faster; otherwise the eager branch.
        """
        _check_pair(a, b)
        branch = self.branch
        if (a.device.type == "cpu" and a.dtype == torch.float32 and not torch.is_grad_enabled()
                and 2 * a.numel() <= FROZEN_MAX_PIXELS
                and not torch.compiler.is_compiling()):  # torch.compile traces the eager branch
            frozen = _frozen_branch(self.branch)
            if frozen is not None:
                branch = frozen
        f = branch(torch.cat([a, b], 0))
        return f[: a.shape[0]], f[a.shape[0]:]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = self.features(a, b)
        return self.head(torch.cat([fa, fb], 1))

    @torch.no_grad()
    def scores(self, a: torch.Tensor, b: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Probability that ``a`` is in focus: ``[B, h, w]``, or the focus map ``[B, H, W]`` if ``size`` is given.

        The head, softmax (and patch mean) run in the fused ``mfif.ops.score_map`` op.
        """
        from .. import ops

        fa, fb = self.features(a, b)
        return ops.score_map(fa, fb, self.head.weight, self.head.bias, size=size)


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a grey image batch [B, 1, H, W], got {shape}; convert colour with "
                             "mfif.pipeline.to_grey")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-2] < PATCH or a.shape[-1] < PATCH:
        raise ValueError(f"images must be at least {PATCH}x{PATCH} pixels (one patch), got "
                         f"{a.shape[-2]}x{a.shape[-1]}")


@lru_cache(maxsize=None)
def _load_cpu(path: str) -> LiuNet:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the Liu 2017 weights are missing: {path} (reinstall mfif, or train them with "
                                "scripts/train_liu2017.py)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = LiuNet()
    net.load_state_dict(state["model"] if "model" in state else state)
    return net.eval().requires_grad_(False)


_DEVICE_CACHE: dict = {}


def load_liu2017(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 path: str | None = None) -> LiuNet:
    """The network with its shipped (or given) weights, in eval mode, cached per (path, device, dtype).

    Examples:
        >>> net = load_liu2017()
        >>> sum(p.numel() for p in net.parameters())
        435202
    """
    path = os.path.abspath(path or WEIGHTS_PATH)
    device = torch.device(device)
    key = (path, str(device), dtype)
    if key not in _DEVICE_CACHE:
        # nn.Module.to works in place: give each (device, dtype) its own copy
        _DEVICE_CACHE[key] = copy.deepcopy(_load_cpu(path)).to(device=device, dtype=dtype)
    return _DEVICE_CACHE[key]
