"""The multiple-source hourglass networks of paper 002 (Guerrero Pena et al.): HF-Seg and HF-Reg.

Both take the two sources stacked as one ``2C``-channel map (6 for colour, 2 for grey) through a
small U-Net (encoder-decoder with skip connections). HF-Seg ends in a 2-class softmax (the weight
of each source) and fuses by the weighted average of eq. 2; HF-Reg regresses the fused image.

Differences from the paper (docs/hourglass.md says why): far fewer channels (CPU speed), the
first level at full resolution has a single convolution, "same" convolutions on an input padded
(reflect) to a multiple of 16 and cropped back instead of valid convolutions, and HF-Reg predicts
a correction to the mean of the sources rather than the image from scratch.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HFReg", "HFSeg", "Hourglass", "MULTIPLE", "load_hourglass"]

MULTIPLE = 16  # the 2x2 fold and three 2x2 poolings (default widths): inputs padded to a multiple of this
WIDTHS = (16, 24, 32, 48)  # channels per level, the top (half resolution) first


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class Hourglass(nn.Module):
    """U-Net body: ``in_ch`` channels in, ``out_ch`` logits/values out, same height and width.

    The input is first folded 2x2 into channels (pixel unshuffle), so the top level runs at half
    resolution with ``4 in_ch`` inputs; the output is unfolded the same way (pixel shuffle), so each
    output pixel still gets its own value. Below the top level come ``len(widths) - 1`` levels, each
    after a 2x2 max-pool with two 3x3 convolutions; the decoder upsamples (nearest), concatenates
    the encoder's features of the same level (the skip connections) and applies two convolutions.

    Args:
        in_ch: input channels (``2C``).
        out_ch: output channels.
        widths: channels of the levels, top (half resolution) first.
    """

    def __init__(self, in_ch: int, out_ch: int, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        w = list(widths)
        self.widths = tuple(w)
        self.enc0 = nn.Sequential(_conv(4 * in_ch, w[0]), nn.ReLU(inplace=True))
        self.enc = nn.ModuleList(nn.Sequential(_conv(w[i - 1], w[i]), nn.ReLU(inplace=True), _conv(w[i], w[i]),
                                               nn.ReLU(inplace=True)) for i in range(1, len(w)))
        # decoder level i (len-2 .. 0): concat(up(level i+1), encoder level i) -> w[i]
        self.dec = nn.ModuleList(nn.Sequential(_conv(w[i + 1] + w[i], w[i]), nn.ReLU(inplace=True),
                                               _conv(w[i], w[i]), nn.ReLU(inplace=True))
                                 for i in range(len(w) - 1))
        self.out = nn.Conv2d(w[0], 4 * out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.enc0(F.pixel_unshuffle(x, 2))
        skips = [h]
        for block in self.enc:
            h = block(F.max_pool2d(h, 2))
            skips.append(h)
        for i in range(len(self.dec) - 1, -1, -1):
            h = self.dec[i](torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skips[i]], 1))
        return F.pixel_shuffle(self.out(h), 2)


def _pad(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    H, W = x.shape[-2:]
    ph, pw = (-H) % multiple, (-W) % multiple
    if ph or pw:
        mode = "reflect" if H > ph and W > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, H, W


class _HourglassFusion(nn.Module):
    """Shared input handling: checks, stacking of the sources, centring, pad to MULTIPLE, crop back."""

    out_per_channel = False

    def __init__(self, channels: int = 3, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels}")
        self.channels = channels
        out = channels if self.out_per_channel else 2
        self.body = Hourglass(2 * channels, out, widths)
        self.multiple = 2 ** len(widths)  # the 2x2 fold, then len - 1 poolings

    def _run(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.dim() != 4 or a.shape != b.shape or a.shape[1] != self.channels:
            raise ValueError(f"a and b must both be [B, {self.channels}, H, W], got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")
        x, H, W = _pad(torch.cat([a, b], 1) - 0.5, self.multiple)
        if x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        return self.body(x)[:, :, :H, :W]


class HFSeg(_HourglassFusion):
    """HF-Seg: the focus map as a 2-class softmax, fused by eq. 2.

    ``logits(a, b)`` gives ``[B, 2, H, W]`` (class 0: take ``a``); ``weights(a, b)`` the weight of ``a``
    ``[B, H, W]``; ``forward(a, b)`` the fused image ``w a + (1 - w) b``.

    Examples:
        >>> net = HFSeg()
        >>> net(torch.rand(1, 3, 37, 50), torch.rand(1, 3, 37, 50)).shape
        torch.Size([1, 3, 37, 50])
    """

    def logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self._run(a, b)

    def weights(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(a, b), 1)[:, 0]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.lerp(b, a, self.weights(a, b)[:, None])


class HFReg(_HourglassFusion):
    """HF-Reg: regresses the fused image (as a correction added to the mean of the two sources).

    Examples:
        >>> net = HFReg()
        >>> net(torch.rand(2, 3, 32, 20), torch.rand(2, 3, 32, 20)).shape
        torch.Size([2, 3, 32, 20])
    """

    out_per_channel = True

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 0.5 * (a + b) + self._run(a, b)


_CACHE: dict[tuple, nn.Module] = {}


def load_hourglass(kind: str, device: torch.device | str = "cpu", path: str | None = None) -> nn.Module:
    """The shipped (or given) HF-Seg/HF-Reg weights as an eval-mode network, cached per file and device.

    Args:
        kind: ``"hf-seg"`` or ``"hf-reg"``.
        device: where the network lives.
        path: a weights file written by ``mfif train``; the shipped one when None.

    Raises:
        FileNotFoundError: if the weights file is missing.
    """
    classes = {"hf-seg": HFSeg, "hf-reg": HFReg}
    if kind not in classes:
        raise ValueError(f"kind must be 'hf-seg' or 'hf-reg', got {kind!r}")
    if path is None:
        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "weights", kind.replace("-", "_") + ".pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{kind} weights not found at {path}; train them with `mfif train {kind}`")
    key = (kind, os.path.abspath(path), os.path.getmtime(path), str(torch.device(device)))
    if key not in _CACHE:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        meta = ck.get("meta", {})
        net = classes[kind](channels=int(meta.get("channels", 3)), widths=tuple(meta.get("widths", WIDTHS)))
        net.load_state_dict(ck["model"])
        net = net.to(device).eval()
        if torch.device(device).type == "cpu":
            net = net.to(memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        _CACHE[key] = net
    return _CACHE[key]
