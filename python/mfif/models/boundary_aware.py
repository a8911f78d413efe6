"""The boundary-aware two-stage network of paper 000 (after Ma et al. 2019, "Boundary Aware Multi-Focus
Image Fusion Using Deep Neural Network", arXiv:1904.00198).

Stage one gives a dense focus map of the whole image; stage two re-decides the pixels near the
focused/defocused boundary, where a dense network is least reliable, from patches of both sources.

- **Stage one**: mfif's HF-Seg hourglass (:class:`mfif.models.hourglass.HFSeg`, paper 002), its
  weights copied from the shipped ``hf_seg.pt`` into this network's own weights file when it is
  trained (the paper trains a DefocusNet of its own for this).
- **Boundary band** (:func:`band_mask`): the pixels within ``band`` pixels (Chebyshev distance) of a
  pixel of the other class of stage one's map thresholded at 0.5, plus, optionally, the pixels whose
  stage-one weight is within ``uncertain`` of 0.5.
- **Stage two** (:class:`BoundaryNet`): a reduced Inception-ResNet-v2
  (:mod:`mfif.models.inception_resnet_v2`, config ``SMALL``) on ``patch`` x ``patch`` patches (default
  40) of both sources and stage one's map (7 channels: A, B minus 0.5, the map minus 0.5) centred on
  the ``block`` x ``block`` blocks (default 8, a grid of stride 8) that touch the band. Its head
  predicts ``block * block`` logits of "A is the source to take", one per pixel of the centre block
  (as a correction added to stage one's logit there: untrained, stage two reproduces stage one),
  so the boundary it draws is pixel-accurate (one class per block would draw an 8-pixel staircase,
  coarser than stage one's map). Only the band's pixels take its decision.

:class:`BoundaryAware` holds both stages; ``weights(a, b)`` is the merged map of the weight of A.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hourglass import WIDTHS, HFSeg
from .inception_resnet_v2 import SMALL, InceptionResNetV2, InceptionResNetV2Config, config_from_dict

__all__ = ["BLOCK", "BAND", "PATCH", "BoundaryAware", "BoundaryNet", "band_mask", "block_origins",
           "extract_patches", "load_boundary_aware"]

BLOCK = 8   # side of the centre blocks stage two decides (and the grid's stride)
PATCH = 40  # side of stage two's patches (16 pixels of context around the block)
BAND = 8    # half-width of the boundary band, pixels
LOCAL_LAYERS = 4  # 3x3 convolutions of stage two's full-resolution path (when ``local`` > 0)
PRIOR_EPS = 1e-6  # stage one's weight is clamped to [eps, 1 - eps] before its logit (+-13.8)


def band_mask(weights: torch.Tensor, band: int = BAND, uncertain: float = 0.0) -> torch.Tensor:
    """Pixels near the border of ``weights >= 0.5``: bool ``[B, H, W]``.

    A pixel is in the band when its ``(2 band + 1)``-square neighbourhood holds both classes (i.e. a
    pixel of the other class lies within Chebyshev distance ``band``: the dilation minus the erosion
    of the map), or, if ``uncertain > 0``, when ``|weights - 0.5| < uncertain``. The image's own edge
    is not a border.

    Examples:
        >>> w = torch.zeros(1, 6, 10); w[:, :, 5:] = 1
        >>> band_mask(w, band=2)[0, 0].int().tolist()
        [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    """
    if weights.dim() != 3:
        raise ValueError(f"weights must be [B, H, W], got {tuple(weights.shape)}")
    if band < 0:
        raise ValueError(f"band must be non-negative, got {band}")
    d = (weights >= 0.5).to(torch.float32)[:, None]
    if band == 0:
        out = torch.zeros_like(d[:, 0], dtype=torch.bool)
    else:
        k = 2 * band + 1
        dil = F.max_pool2d(d, k, 1, band)        # max_pool pads with -inf: the image edge is no border
        ero = -F.max_pool2d(-d, k, 1, band)
        out = (dil != ero)[:, 0]
    if uncertain > 0:
        out = out | ((weights - 0.5).abs() < uncertain)
    return out


def block_origins(mask: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """The ``block``-grid blocks of one ``[H, W]`` mask holding a True pixel: ``[k, 2]`` (row, column)
    of their top-left pixels, in raster order."""
    if mask.dim() != 2:
        raise ValueError(f"mask must be [H, W], got {tuple(mask.shape)}")
    hit = F.max_pool2d(mask[None, None].to(torch.float32), block, block, ceil_mode=True)[0, 0] > 0
    return hit.nonzero() * block


def _pad_for_patches(x: torch.Tensor, block: int, patch: int) -> torch.Tensor:
    """``x`` ``[C, H, W]`` padded so that every block of the grid has its whole patch inside."""
    ctx = (patch - block) // 2
    H, W = x.shape[-2:]
    bottom = -(-H // block) * block - H + ctx
    right = -(-W // block) * block - W + ctx
    mode = "reflect" if min(H, W) > max(ctx, bottom, right) else "replicate"
    return F.pad(x[None], (ctx, right, ctx, bottom), mode=mode)[0]


def extract_patches(x: torch.Tensor, origins: torch.Tensor, block: int = BLOCK, patch: int = PATCH) -> torch.Tensor:
    """The ``patch`` x ``patch`` patches of ``x`` ``[C, H, W]`` centred on the blocks at ``origins``
    (``[k, 2]``, from :func:`block_origins`): ``[k, C, patch, patch]`` (outside the image: reflected)."""
    if (patch - block) % 2:
        raise ValueError(f"patch - block must be even, got patch {patch} and block {block}")
    xp = _pad_for_patches(x, block, patch)
    r = torch.arange(patch, device=x.device)
    rows = (origins[:, 0, None] + r)[:, :, None]  # padded coordinates: origin - ctx + ctx
    cols = (origins[:, 1, None] + r)[:, None, :]
    return xp[:, rows, cols].permute(1, 0, 2, 3)


@dataclass
class Settings:
    """Stage two's geometry (stored in the weights file)."""

    block: int = BLOCK
    patch: int = PATCH
    band: int = BAND
    local: int = 0  # width of stage two's full-resolution path (0: none)


class BoundaryNet(nn.Module):
    """Stage two: a reduced Inception-ResNet-v2 on 7-channel patches -> ``[k, block, block]`` logits
    of "A is the source to take" for the patch's centre block.

    Args:
        cfg: the backbone's size (default :data:`~mfif.models.inception_resnet_v2.SMALL`).
        block: side of the centre block.
        hidden: width of the head's hidden layer.

    The head is not the paper's global pooling + linear classifier: where the border runs inside the
    block is a spatial question, so the backbone's last feature map is pooled to 2x2 (not 1x1) and
    flattened, stage one's logits at the block's pixels are appended, and a two-layer perceptron
    predicts a correction added to stage one's logit ``log(w1 / (1 - w1))`` (``w1`` clamped to
    [``PRIOR_EPS``, 1 - ``PRIOR_EPS``]) at each pixel of the block. Its last layer starts at zero: an
    untrained stage two reproduces stage one, and training moves it away from stage one where the
    patches show stage one to be wrong.
    """

    in_ch = 7

    def __init__(self, cfg: InceptionResNetV2Config = SMALL, block: int = BLOCK, hidden: int = 256,
                 local: int = 0):
        super().__init__()
        self.block = block
        self.local = local
        self.net = InceptionResNetV2(cfg, in_ch=self.in_ch, num_outputs=0)
        n = block * block
        if local:
            # pixel-accurate path: LOCAL_LAYERS 3x3 convolutions at full resolution on the centre of
            # the patch (the backbone's 2x2 output cannot say where in the block the border runs),
            # then, per pixel, a 1x1 perceptron on [local features, stage one's logit, the backbone's
            # pooled features projected to ``local`` channels]
            layers, c = [], self.in_ch
            for _ in range(LOCAL_LAYERS):
                layers += [nn.Conv2d(c, local, 3), nn.ReLU(inplace=True)]
                c = local
            self.local_net = nn.Sequential(*layers)
            self.glob = nn.Sequential(nn.Linear(4 * self.net.features, local), nn.ReLU(inplace=True))
            self.head = nn.Sequential(nn.Conv2d(2 * local + 1, 2 * local, 1), nn.ReLU(inplace=True),
                                      nn.Conv2d(2 * local, 1, 1))
        else:
            self.head = nn.Sequential(nn.Linear(4 * self.net.features + n, hidden), nn.ReLU(inplace=True),
                                      nn.Linear(hidden, n))
        nn.init.zeros_(self.head[2].weight)
        nn.init.zeros_(self.head[2].bias)

    def prior(self, patches: torch.Tensor) -> torch.Tensor:
        """Stage one's logit at the centre block's pixels ``[k, block, block]``."""
        c = (patches.shape[-1] - self.block) // 2
        w = (patches[:, 6, c:c + self.block, c:c + self.block] + 0.5).clamp(PRIOR_EPS, 1 - PRIOR_EPS)
        return torch.log(w) - torch.log1p(-w)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.dim() != 4 or patches.shape[1] != self.in_ch:
            raise ValueError(f"patches must be [k, {self.in_ch}, P, P], got {tuple(patches.shape)}")
        prior = self.prior(patches)
        f = F.adaptive_avg_pool2d(self.net.feature_map(patches), 2).flatten(1)
        if self.local:
            r = LOCAL_LAYERS
            c = (patches.shape[-1] - self.block) // 2 - r
            loc = self.local_net(patches[:, :, c:c + self.block + 2 * r, c:c + self.block + 2 * r])
            g = self.glob(f)[:, :, None, None].expand(-1, -1, self.block, self.block)
            corr = self.head(torch.cat([loc, prior[:, None] / 4, g], 1))[:, 0]
            return prior + corr
        corr = self.head(torch.cat([f, prior.flatten(1) / 4], 1))
        return prior + corr.view(-1, self.block, self.block)


def stage_two_input(a: torch.Tensor, b: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
    """The 7-channel map stage two's patches are cut from: ``[B, 7, H, W]``."""
    return torch.cat([a - 0.5, b - 0.5, w1[:, None] - 0.5], 1)


class BoundaryAware(nn.Module):
    """Both stages (see the module docstring).

    Args:
        stage1_widths: the HF-Seg hourglass's widths (those of the weights copied into it).
        cfg: stage two's backbone size.
        settings: block, patch and band sizes.

    Examples:
        >>> net = BoundaryAware().eval()
        >>> net.weights(torch.rand(1, 3, 37, 50), torch.rand(1, 3, 37, 50)).shape
        torch.Size([1, 37, 50])
    """

    def __init__(self, stage1_widths: tuple[int, ...] = WIDTHS, cfg: InceptionResNetV2Config = SMALL,
                 settings: Settings | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.stage1 = HFSeg(channels=3, widths=tuple(stage1_widths))
        self.stage2 = BoundaryNet(cfg, self.settings.block, local=self.settings.local)
        self.channels = 3

    def stage_one(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Stage one's weight of ``a`` ``[B, H, W]``."""
        return self.stage1.weights(a, b)

    def refine(self, a: torch.Tensor, b: torch.Tensor, w1: torch.Tensor, band: int | None = None,
               uncertain: float = 0.0, chunk: int = 512, symmetric: bool = False):
        """Stage two on the band of ``w1``: ``(merged weights [B, H, W], band mask [B, H, W])``.

        ``symmetric``: average stage two's logits with the negated logits of the swapped input (the
        decision is then exactly antisymmetric in the sources; twice the cost).
        """
        s = self.settings
        band = s.band if band is None else band
        mask = band_mask(w1, band, uncertain)
        merged = w1.clone()
        for i in range(a.shape[0]):
            origins = block_origins(mask[i], s.block)
            if len(origins) == 0:
                continue
            probs = self._blocks(a[i:i + 1], b[i:i + 1], w1[i:i + 1], origins, chunk, symmetric)
            H, W = w1.shape[-2:]
            nby, nbx = -(-H // s.block), -(-W // s.block)
            grid = torch.zeros(nby, nbx, s.block, s.block, dtype=w1.dtype, device=w1.device)
            grid[origins[:, 0] // s.block, origins[:, 1] // s.block] = probs.to(w1.dtype)
            full = grid.permute(0, 2, 1, 3).reshape(nby * s.block, nbx * s.block)[:H, :W]
            merged[i] = torch.where(mask[i], full, w1[i])
        return merged, mask

    def _blocks(self, a, b, w1, origins, chunk, symmetric):
        s = self.settings
        x = stage_two_input(a, b, w1)[0]
        out = []
        for k in range(0, len(origins), chunk):
            p = extract_patches(x, origins[k:k + chunk], s.block, s.patch)
            logits = self.stage2(p)
            if symmetric:
                q = torch.cat([p[:, 3:6], p[:, 0:3], -p[:, 6:7]], 1)
                logits = 0.5 * (logits - self.stage2(q))
            out.append(torch.sigmoid(logits))
        return torch.cat(out)

    def weights(self, a: torch.Tensor, b: torch.Tensor, **kw) -> torch.Tensor:
        """The merged weight of ``a`` ``[B, H, W]`` (``kw``: see :meth:`refine`)."""
        return self.refine(a, b, self.stage_one(a, b), **kw)[0]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.lerp(b, a, self.weights(a, b)[:, None])

    def meta(self) -> dict:
        """What a weights file stores to rebuild this network."""
        s = self.settings
        return {"stage1_widths": list(self.stage1.body.widths), "backbone": self.stage2.net.config_dict(),
                "block": s.block, "patch": s.patch, "band": s.band, "local": s.local}


_CACHE: dict[tuple, nn.Module] = {}


def default_path() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "weights", "boundary_aware.pt")


def from_meta(meta: dict) -> BoundaryAware:
    """An (untrained) network of the size described by ``meta`` (see :meth:`BoundaryAware.meta`)."""
    return BoundaryAware(tuple(meta.get("stage1_widths", WIDTHS)),
                         config_from_dict(meta["backbone"]) if "backbone" in meta else SMALL,
                         Settings(int(meta.get("block", BLOCK)), int(meta.get("patch", PATCH)),
                                  int(meta.get("band", BAND)), int(meta.get("local", 0))))


def load_boundary_aware(device: torch.device | str = "cpu", path: str | None = None) -> BoundaryAware:
    """The shipped (or given) boundary-aware weights as an eval-mode network, cached per file and device.

    Raises:
        FileNotFoundError: if the weights file is missing.
    """
    path = path or default_path()
    if not os.path.exists(path):
        raise FileNotFoundError(f"boundary-aware weights not found at {path}; train them with "
                                "`mfif train boundary-aware`")
    key = (os.path.abspath(path), os.path.getmtime(path), str(torch.device(device)))
    if key not in _CACHE:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        net = from_meta(ck.get("meta", {}))
        net.load_state_dict(ck["model"])
        net = net.to(device).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        _CACHE[key] = net
    return _CACHE[key]
