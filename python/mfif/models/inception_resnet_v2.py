"""Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke, Alemi, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 / arXiv:1602.07261), written for mfif.

The published network (figures 3 and 15-19 of the paper):

- **stem** (fig. 3): 3x3/2 conv 32 (valid), 3x3 conv 32 (valid), 3x3 conv 64 (same); [3x3/2 max-pool |
  3x3/2 conv 96] concatenated; [1x1 64, 3x3 96 (valid) | 1x1 64, 7x1 64, 1x7 64, 3x3 96 (valid)]
  concatenated; [3x3/2 conv 192 (valid) | 3x3/2 max-pool] concatenated: 384 channels, 35x35 at 299x299.
- **Inception-ResNet-A** x5 (fig. 16): [1x1 32 | 1x1 32, 3x3 32 | 1x1 32, 3x3 48, 3x3 64], concatenated,
  a linear 1x1 conv back to the input's channels, scaled by 0.17 and added to the input, ReLU.
- **Reduction-A** (fig. 7, k, l, m, n = 256, 256, 384, 384): [3x3/2 max-pool | 3x3/2 conv n |
  1x1 k, 3x3 l, 3x3/2 conv m]: 1152 channels, 17x17.
- **Inception-ResNet-B** x10 (fig. 17): [1x1 192 | 1x1 128, 1x7 160, 7x1 192], 1x1 back, scale 0.10.
- **Reduction-B** (fig. 18): [3x3/2 max-pool | 1x1 256, 3x3/2 384 | 1x1 256, 3x3/2 288 |
  1x1 256, 3x3 288, 3x3/2 320]: 2144 channels, 8x8.
- **Inception-ResNet-C** x5 (fig. 19): [1x1 192 | 1x1 192, 1x3 224, 3x1 256], 1x1 back, scale 0.20.
- global average pooling, dropout (keep 0.8), a linear classifier.

Every convolution except the blocks' linear 1x1 "back" projections is followed by batch
normalisation and ReLU (the paper puts batch normalisation on the traditional layers only, not on
the residual sums). The residual scalings 0.17 / 0.10 / 0.20 are those of the authors' released
implementation (the paper says "between 0.1 and 0.3").

Where this differs from the figures, and why:

- The paper's figures 17 and 19 write 1154 and 2048 output channels for the B and C blocks, which do
  not match the channels they add to (1152 after Reduction-A, 2144 after Reduction-B with 1152
  in); here every block projects back to exactly its input's channels (as the residual sum needs).
- ``padding="same"`` (``InceptionResNetV2Config.same_padding``) pads the stem's and the reductions'
  valid convolutions and pools (``k // 2``), so a 32x32 or 40x40 patch keeps a spatial extent down to
  the last stage (40 -> 20 -> 10 -> 5 -> 3 -> 2) instead of vanishing; the published network
  (``same_padding=False``) needs an input of at least 75x75.
- ``width`` multiplies every channel count (rounded, at least 4 channels), and
  ``blocks`` sets the number of A, B and C blocks, so a reduced network trains on a CPU.

Configurations: :data:`FULL` (the paper: 5/10/5 blocks, full widths, about 54 M parameters with a
1000-class head) and :data:`SMALL` (mfif's boundary network: width 0.25, 1/2/1 blocks, padded).

Examples:
    >>> net = InceptionResNetV2(SMALL, in_ch=7, num_outputs=64)
    >>> net(torch.rand(2, 7, 40, 40)).shape
    torch.Size([2, 64])
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["FULL", "SMALL", "InceptionResNetV2", "InceptionResNetV2Config", "config_from_dict"]


@dataclass(frozen=True)
class InceptionResNetV2Config:
    """Size of an Inception-ResNet-v2.

    Attributes:
        width: multiplier of every channel count of the paper (1.0: the published widths).
        blocks: numbers of Inception-ResNet-A, -B and -C blocks (paper: 5, 10, 5).
        same_padding: pad the stem's and reductions' valid convolutions and pools (see the module
            docstring); False is the published network.
        scales: residual scalings of the A, B and C blocks.
        dropout: dropout probability before the classifier (paper: keep 0.8, i.e. 0.2).
    """

    width: float = 1.0
    blocks: tuple[int, int, int] = (5, 10, 5)
    same_padding: bool = False
    scales: tuple[float, float, float] = (0.17, 0.10, 0.20)
    dropout: float = 0.2

    def __post_init__(self):
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if len(self.blocks) != 3 or min(self.blocks) < 0:
            raise ValueError(f"blocks must be three non-negative counts (A, B, C), got {self.blocks}")


FULL = InceptionResNetV2Config()
SMALL = InceptionResNetV2Config(width=0.25, blocks=(1, 2, 1), same_padding=True, dropout=0.0)


def config_from_dict(d: dict) -> InceptionResNetV2Config:
    """The inverse of ``dataclasses.asdict`` (as stored in a weights file's metadata)."""
    return InceptionResNetV2Config(width=float(d["width"]), blocks=tuple(int(v) for v in d["blocks"]),
                                   same_padding=bool(d["same_padding"]),
                                   scales=tuple(float(v) for v in d["scales"]), dropout=float(d["dropout"]))


class _Conv(nn.Sequential):
    """Convolution (no bias) + batch normalisation + ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU(inplace=True))
        self.out_channels = cout


def _same(k) -> int | tuple[int, int]:
    return (k[0] // 2, k[1] // 2) if isinstance(k, tuple) else k // 2


class _Residual(nn.Module):
    """An Inception-ResNet block: branches concatenated, a linear 1x1 back to ``ch``, scaled, added, ReLU."""

    def __init__(self, ch: int, branches: list[nn.Module], mid: int, scale: float):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.up = nn.Conv2d(mid, ch, 1, bias=True)
        self.scale = scale
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.up(torch.cat([b(x) for b in self.branches], 1))
        return self.relu(x + self.scale * r)


class InceptionResNetV2(nn.Module):
    """Inception-ResNet-v2 (see the module docstring) on ``in_ch`` input channels.

    Args:
        cfg: the size (:data:`FULL`, :data:`SMALL` or any :class:`InceptionResNetV2Config`).
        in_ch: input channels (3 for the paper's RGB images).
        num_outputs: outputs of the final linear layer (1000 for ImageNet); 0 for none (``forward``
            then returns the pooled features, ``features`` channels).
    """

    def __init__(self, cfg: InceptionResNetV2Config = FULL, in_ch: int = 3, num_outputs: int = 1000):
        super().__init__()
        self.cfg = cfg
        c = lambda n: max(4, int(round(n * cfg.width)))  # noqa: E731
        v = (lambda k: _same(k)) if cfg.same_padding else (lambda k: 0)  # the paper's valid convolutions
        pool_pad = 1 if cfg.same_padding else 0
        self.pool_pad = pool_pad

        # stem (fig. 3)
        self.stem1 = nn.Sequential(_Conv(in_ch, c(32), 3, 2, v(3)), _Conv(c(32), c(32), 3, 1, v(3)),
                                   _Conv(c(32), c(64), 3, 1, 1))
        self.stem2_conv = _Conv(c(64), c(96), 3, 2, v(3))
        ch = c(64) + c(96)
        self.stem3_a = nn.Sequential(_Conv(ch, c(64), 1), _Conv(c(64), c(96), 3, 1, v(3)))
        self.stem3_b = nn.Sequential(_Conv(ch, c(64), 1), _Conv(c(64), c(64), (7, 1), 1, (3, 0)),
                                     _Conv(c(64), c(64), (1, 7), 1, (0, 3)), _Conv(c(64), c(96), 3, 1, v(3)))
        ch = 2 * c(96)
        self.stem4_conv = _Conv(ch, c(192), 3, 2, v(3))
        ch = ch + c(192)

        # Inception-ResNet-A (fig. 16)
        sa, sb, sc = cfg.scales
        self.block_a = nn.Sequential(*[_Residual(ch, [
            _Conv(ch, c(32), 1),
            nn.Sequential(_Conv(ch, c(32), 1), _Conv(c(32), c(32), 3, 1, 1)),
            nn.Sequential(_Conv(ch, c(32), 1), _Conv(c(32), c(48), 3, 1, 1), _Conv(c(48), c(64), 3, 1, 1)),
        ], c(32) + c(32) + c(64), sa) for _ in range(cfg.blocks[0])])

        # Reduction-A (fig. 7, k=256, l=256, m=384, n=384)
        self.red_a_conv = _Conv(ch, c(384), 3, 2, v(3))
        self.red_a_tower = nn.Sequential(_Conv(ch, c(256), 1), _Conv(c(256), c(256), 3, 1, 1),
                                         _Conv(c(256), c(384), 3, 2, v(3)))
        ch = ch + 2 * c(384)

        # Inception-ResNet-B (fig. 17)
        self.block_b = nn.Sequential(*[_Residual(ch, [
            _Conv(ch, c(192), 1),
            nn.Sequential(_Conv(ch, c(128), 1), _Conv(c(128), c(160), (1, 7), 1, (0, 3)),
                          _Conv(c(160), c(192), (7, 1), 1, (3, 0))),
        ], 2 * c(192), sb) for _ in range(cfg.blocks[1])])

        # Reduction-B (fig. 18)
        self.red_b_1 = nn.Sequential(_Conv(ch, c(256), 1), _Conv(c(256), c(384), 3, 2, v(3)))
        self.red_b_2 = nn.Sequential(_Conv(ch, c(256), 1), _Conv(c(256), c(288), 3, 2, v(3)))
        self.red_b_3 = nn.Sequential(_Conv(ch, c(256), 1), _Conv(c(256), c(288), 3, 1, 1),
                                     _Conv(c(288), c(320), 3, 2, v(3)))
        ch = ch + c(384) + c(288) + c(320)

        # Inception-ResNet-C (fig. 19)
        self.block_c = nn.Sequential(*[_Residual(ch, [
            _Conv(ch, c(192), 1),
            nn.Sequential(_Conv(ch, c(192), 1), _Conv(c(192), c(224), (1, 3), 1, (0, 1)),
                          _Conv(c(224), c(256), (3, 1), 1, (1, 0))),
        ], c(192) + c(256), sc) for _ in range(cfg.blocks[2])])

        self.features = ch
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.head = nn.Linear(ch, num_outputs) if num_outputs else nn.Identity()

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(x, 3, 2, self.pool_pad)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map ``[B, features, h, w]``."""
        if x.dim() != 4:
            raise ValueError(f"input must be [B, C, H, W], got {tuple(x.shape)}")
        minimum = 1 if self.cfg.same_padding else 75
        if min(x.shape[-2:]) < minimum:
            raise ValueError(f"input of {tuple(x.shape[-2:])} is too small for Inception-ResNet-v2 with valid "
                             f"convolutions (at least {minimum}x{minimum}); use same_padding=True")
        x = self.stem1(x)
        x = torch.cat([self._pool(x), self.stem2_conv(x)], 1)
        x = torch.cat([self.stem3_a(x), self.stem3_b(x)], 1)
        x = torch.cat([self.stem4_conv(x), self._pool(x)], 1)
        x = self.block_a(x)
        x = torch.cat([self._pool(x), self.red_a_conv(x), self.red_a_tower(x)], 1)
        x = self.block_b(x)
        x = torch.cat([self._pool(x), self.red_b_1(x), self.red_b_2(x), self.red_b_3(x)], 1)
        return self.block_c(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.feature_map(x).mean((2, 3))))

    def config_dict(self) -> dict:
        """The configuration as plain values (for a weights file's metadata)."""
        d = asdict(self.cfg)
        d["blocks"], d["scales"] = list(d["blocks"]), list(d["scales"])
        return d
