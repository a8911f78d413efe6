"""Training task ``boundary-aware``: stage two (the reduced Inception-ResNet-v2 boundary network) of
:class:`mfif.models.boundary_aware.BoundaryAware`.

Stage one (HF-Seg) is not trained: its weights are copied from ``hf_seg.pt`` (option ``stage1``, the
shipped file by default) into the network when it is built and frozen, so the weights file this task
writes holds both stages.

Data: :class:`mfif.synthetic.PairSampler` crops (``crop``, default 128; the realistic variant with
probability ``realistic``, default 0.5: its occlusion edges are what stage two must learn), each pair
in both orders (sources swapped, stage one's map recomputed, the target inverted). From every crop
``per_crop`` blocks of the 8-pixel grid are drawn: half among the blocks within ``block / 2`` pixels
of the true focus border (the generator's focus map), half among the blocks stage two would see at
inference (those touching stage one's band), each falling back on the other set, then on any block,
when empty. Loss: binary cross-entropy of the block's ``8 x 8`` logits against the true focus,
weighted per pixel by the sources' absolute difference (where they are alike the label neither
matters nor can be learnt), plus ``recon`` (default 10) times the L1 error against the truth of the
block fused with the predicted soft weights.
Validation: PSNR/SSIM of the whole method (both stages, the soft merged map) on the fixed
validation set, as for hf-seg.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..models.boundary_aware import BoundaryAware, band_mask, extract_patches, stage_two_input
from ..models.hourglass import WIDTHS
from ..models.inception_resnet_v2 import SMALL, InceptionResNetV2Config
from ..synthetic import PairSampler
from .hourglass import training_folders, validate_on_set
from .loop import TrainConfig

__all__ = ["BoundaryAwareTask", "fuse_numpy"]


def _shipped_hf_seg() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "weights", "hf_seg.pt")


def _pad_block(x: torch.Tensor, block: int) -> torch.Tensor:
    """``[H, W]`` padded (replicate) at the bottom and right to multiples of ``block``."""
    return F.pad(x[None, None], (0, -x.shape[-1] % block, 0, -x.shape[-2] % block), mode="replicate")[0, 0]


def _pad_block_c(x: torch.Tensor, block: int) -> torch.Tensor:
    """``[C, H, W]`` padded (replicate) at the bottom and right to multiples of ``block``."""
    return F.pad(x[None], (0, -x.shape[-1] % block, 0, -x.shape[-2] % block), mode="replicate")[0]


class BoundaryAwareTask:
    """The ``boundary-aware`` task (see the module docstring)."""

    name = "boundary-aware"

    def __init__(self):
        self.defaults: dict[str, Any] = {
            "steps": 2000, "batch": 4, "lr": 1e-3, "warmup": 50, "every": 250, "seed": 2019,
            "options": {"crop": 128, "realistic": 0.5, "per_crop": 16, "val_n": 4, "recon": 10.0, "width": SMALL.width,
                        "blocks": ",".join(map(str, SMALL.blocks)), "stage1": ""},
        }
        self._val: list | None = None
        self.per_crop, self.recon = 16, 10.0

    def build(self, cfg: TrainConfig) -> torch.nn.Module:
        path = cfg.options.get("stage1") or _shipped_hf_seg()
        if not os.path.exists(path):
            raise ValueError(f"stage one's weights {path!r} not found (HF-Seg: `mfif train hf-seg`)")
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if ck.get("meta", {}).get("kind", "hf-seg") != "hf-seg" or int(ck.get("meta", {}).get("channels", 3)) != 3:
            raise ValueError(f"{path} is not a colour HF-Seg weights file")
        blocks = tuple(int(v) for v in str(cfg.options["blocks"]).split(","))
        bcfg = InceptionResNetV2Config(width=float(cfg.options["width"]), blocks=blocks, same_padding=True,
                                       dropout=0.0)
        net = BoundaryAware(tuple(ck.get("meta", {}).get("widths", WIDTHS)), bcfg)
        net.stage1.load_state_dict(ck["model"])
        for p in net.stage1.parameters():
            p.requires_grad_(False)
        return net

    def data(self, cfg: TrainConfig) -> PairSampler:
        if not cfg.data:
            raise ValueError("give --data a folder of photos (e.g. the data set's train/ folder)")
        self.per_crop = int(cfg.options["per_crop"])
        self.recon = float(cfg.options["recon"])
        return PairSampler(training_folders(cfg.data), crop=int(cfg.options["crop"]),
                           realistic=float(cfg.options["realistic"]), seed=cfg.seed)

    def _pick(self, true_mask: torch.Tensor, band: torch.Tensor, block: int, n: int) -> torch.Tensor:
        """``n`` block origins ``[n, 2]`` (see the module docstring), drawn with torch's generator."""
        def blocks(m):
            return F.max_pool2d(m[None, None].float(), block, block, ceil_mode=True)[0, 0].flatten() > 0

        t, s = blocks(true_mask), blocks(band)
        nbx = -(-true_mask.shape[1] // block)
        every = torch.ones_like(t)
        picks = []
        for first, second, k in ((t, s, n - n // 2), (s, t, n // 2)):
            pool = first if first.any() else (second if second.any() else every)
            picks.append(torch.multinomial(pool.float(), k, replacement=True))
        idx = torch.cat(picks)
        return torch.stack([idx // nbx, idx % nbx], 1) * block

    def loss(self, model: torch.nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, dict]:
        a, b, truth, focus = (torch.from_numpy(batch[k]).to(device) for k in ("a", "b", "truth", "focus"))
        model.stage1.eval()
        s = model.settings
        with torch.no_grad():
            w_ab = model.stage_one(a, b)
            w_ba = model.stage_one(b, a)
        f = focus[:, 0]
        true_near = band_mask(f, s.block // 2)
        patches, targets, w1_at, src1, src2, tru = [], [], [], [], [], []
        r = torch.arange(s.block, device=device)
        for i in range(a.shape[0]):
            origins = self._pick(true_near[i], band_mask(w_ab[i:i + 1], s.band)[0], s.block, self.per_crop)
            rows, cols = (origins[:, 0, None] + r)[:, :, None], (origins[:, 1, None] + r)[:, None, :]
            tgt = _pad_block(f[i], s.block)[rows, cols]
            at = lambda x: _pad_block_c(x, s.block)[:, rows, cols].permute(1, 0, 2, 3)  # noqa: E731 [k, 3, s, s]
            ai, bi, ti = at(a[i]), at(b[i]), at(truth[i])
            for x, tg, w, p1, p2 in ((stage_two_input(a[i:i + 1], b[i:i + 1], w_ab[i:i + 1]), tgt, w_ab[i], ai, bi),
                                     (stage_two_input(b[i:i + 1], a[i:i + 1], w_ba[i:i + 1]), 1 - tgt, w_ba[i], bi, ai)):
                patches.append(extract_patches(x[0], origins, s.block, s.patch))
                targets.append(tg)
                w1_at.append(_pad_block(w, s.block)[rows, cols])
                src1.append(p1)
                src2.append(p2)
                tru.append(ti)
        p, t, w1 = torch.cat(patches), torch.cat(targets), torch.cat(w1_at)
        x1, x2, xt = torch.cat(src1), torch.cat(src2), torch.cat(tru)
        logits = model.stage2(p)
        # where the sources are alike the label does not matter (and is not learnable from the
        # patches): the cross-entropy is weighted by the sources' difference, and an L1 term on the
        # fused block against the truth (what the method is judged by) rewards soft weights where
        # neither source is sharp (the realistic variant's occlusion edges)
        diff = (x1 - x2).abs().mean(1)
        bce = (F.binary_cross_entropy_with_logits(logits, t, reduction="none") * diff).sum() / diff.sum().clamp_min(1e-6)
        fused = torch.lerp(x2, x1, torch.sigmoid(logits)[:, None])
        l1 = (fused - xt).abs().mean()
        with torch.no_grad():
            l1_stage1 = (torch.lerp(x2, x1, w1[:, None]) - xt).abs().mean()
            acc = ((logits > 0) == (t > 0.5)).float().mean()
            acc1 = ((w1 >= 0.5) == (t > 0.5)).float().mean()  # stage one on the same pixels, for comparison
        return bce + self.recon * l1, {"acc": float(acc), "acc_stage1": float(acc1), "l1": float(l1.detach()) * 255,
                                       "l1_stage1": float(l1_stage1) * 255}

    def validate(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        return validate_on_set(self, model, cfg, device, fuse_numpy)

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        return {"kind": self.name, **model.meta(),
                "stage1_source": "python/mfif/weights/hf_seg.pt (copied, frozen)" if not cfg.options.get("stage1")
                else "a given HF-Seg weights file (copied, frozen)",
                "data": ("photos of BSDS500 train (Arbelaez et al. 2011) and Clothing Co-Parsing (Yang et al. "
                         "2014) with their region maps" if cfg.data and
                         os.path.isdir(os.path.join(cfg.data, "bsds500")) else "a user's folder of photos")}


def fuse_numpy(model: torch.nn.Module, a: np.ndarray, b: np.ndarray, device: torch.device) -> np.ndarray:
    """Fuse two ``[H, W, 3]`` float images with both stages (the soft merged map, eq. 2)."""
    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None].to(device)
    return model(ta, tb)[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
