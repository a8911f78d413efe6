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

from ..models.boundary_aware import BoundaryAware, Settings, band_mask, extract_patches, stage_two_input
from ..models.hourglass import WIDTHS
from ..models.inception_resnet_v2 import SMALL, InceptionResNetV2Config
from ..synthetic import PairSampler
from .hourglass import training_folders, validate_on_set, validation_folder
from ..synthetic import VARIANTS
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
            "steps": 400, "batch": 4, "lr": 1e-3, "warmup": 30, "every": 50, "seed": 2019,
            "options": {"crop": 128, "realistic": 0.5, "per_crop": 16, "val_n": 4, "recon": 10.0, "width": SMALL.width,
                        "blocks": ",".join(map(str, SMALL.blocks)), "stage1": "", "hard": 0.7, "head_lr": 1.0,
                        "band_val": 4, "best": "", "local": 16, "ce": 0.0},
        }
        self._val: list | None = None
        self._band_val: list | None = None
        self._best = float("inf")
        self.per_crop, self.recon, self.hard, self.ce = 16, 10.0, 0.7, 1.0

    def param_groups(self, model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
        """The head (which predicts the residual over stage one) at ``head_lr`` times the learning rate."""
        st2 = model.stage2
        head = [p for m in (st2.head, getattr(st2, "local_net", None), getattr(st2, "glob", None)) if m is not None
                for p in m.parameters() if p.requires_grad]
        ids = {id(p) for p in head}
        body = [p for p in model.stage2.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": body, "lr": cfg.lr},
                {"params": head, "lr": cfg.lr * float(cfg.options.get("head_lr", 1.0))}]

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
        net = BoundaryAware(tuple(ck.get("meta", {}).get("widths", WIDTHS)), bcfg,
                            Settings(local=int(cfg.options.get("local", 0))))
        net.stage1.load_state_dict(ck["model"])
        for p in net.stage1.parameters():
            p.requires_grad_(False)
        return net

    def data(self, cfg: TrainConfig) -> PairSampler:
        if not cfg.data:
            raise ValueError("give --data a folder of photos (e.g. the data set's train/ folder)")
        self.per_crop = int(cfg.options["per_crop"])
        self.recon = float(cfg.options["recon"])
        self.hard = float(cfg.options["hard"])
        self.ce = float(cfg.options.get("ce", 1.0))
        return PairSampler(training_folders(cfg.data), crop=int(cfg.options["crop"]),
                           realistic=float(cfg.options["realistic"]), seed=cfg.seed)

    def _pick(self, err: torch.Tensor, band: torch.Tensor, true_mask: torch.Tensor, block: int,
              n: int) -> torch.Tensor:
        """``n`` block origins ``[n, 2]`` among the blocks stage two sees at inference (those touching
        stage one's ``band``): a share ``hard`` drawn with probability proportional to stage one's
        error (``err`` ``[H, W]``, summed over the block's band pixels: hard-example mining), the rest
        uniformly; when the band is empty, the blocks near the true border, else any block."""
        def blocks(m):
            return F.max_pool2d(m[None, None].float(), block, block, ceil_mode=True)[0, 0].flatten() > 0

        s = blocks(band)
        nbx = -(-band.shape[1] // block)
        if not s.any():
            t = blocks(true_mask)
            pool = t if t.any() else torch.ones_like(t)
            idx = torch.multinomial(pool.float(), n, replacement=True)
        else:
            k = int(round(n * self.hard))
            e = F.avg_pool2d(F.pad((err * band)[None, None], (0, -err.shape[-1] % block, 0, -err.shape[-2] % block)),
                             block, block)[0, 0].flatten()
            e = e * s
            picks = []
            if k > 0:
                picks.append(torch.multinomial(e + 1e-8 * s.float(), k, replacement=True))
            if n - k > 0:
                picks.append(torch.multinomial(s.float(), n - k, replacement=True))
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
        patches, targets, w1_at, src1, src2, tru, masks = [], [], [], [], [], [], []
        r = torch.arange(s.block, device=device)
        for i in range(a.shape[0]):
            for x, tg_map, w, p1, p2 in ((a[i], f[i], w_ab[i], a[i], b[i]), (b[i], 1 - f[i], w_ba[i], b[i], a[i])):
                band = band_mask(w[None], s.band)[0]
                err = (torch.lerp(p2, p1, w[None]) - truth[i]).abs().mean(0)  # stage one's error per pixel
                origins = self._pick(err, band, true_near[i], s.block, self.per_crop)
                rows, cols = (origins[:, 0, None] + r)[:, :, None], (origins[:, 1, None] + r)[:, None, :]
                at = lambda x: _pad_block_c(x, s.block)[:, rows, cols].permute(1, 0, 2, 3)  # noqa: E731 [k, 3, s, s]
                inp = stage_two_input(p1[None], p2[None], w[None])
                patches.append(extract_patches(inp[0], origins, s.block, s.patch))
                targets.append(_pad_block(tg_map, s.block)[rows, cols])
                w1_at.append(_pad_block(w, s.block)[rows, cols])
                masks.append(_pad_block(band.float(), s.block)[rows, cols])
                src1.append(at(p1))
                src2.append(at(p2))
                tru.append(at(truth[i]))
        p, t, w1, m = torch.cat(patches), torch.cat(targets), torch.cat(w1_at), torch.cat(masks)
        x1, x2, xt = torch.cat(src1), torch.cat(src2), torch.cat(tru)
        logits = model.stage2(p)
        # only the band's pixels take stage two's decision at inference: the loss is on them alone.
        # Where the sources are alike the label does not matter (and is not learnable from the
        # patches): the cross-entropy is weighted by the sources' difference, and an L1 term on the
        # fused block against the truth (what the method is judged by) rewards soft weights where
        # neither source is sharp (the realistic variant's occlusion edges)
        diff = (x1 - x2).abs().mean(1) * m
        bce = (F.binary_cross_entropy_with_logits(logits, t, reduction="none") * diff).sum() / diff.sum().clamp_min(1e-6)
        fused = torch.lerp(x2, x1, torch.sigmoid(logits)[:, None])
        msum = m.sum().clamp_min(1.0) * 3
        l1 = ((fused - xt).abs() * m[:, None]).sum() / msum
        with torch.no_grad():
            l1_stage1 = ((torch.lerp(x2, x1, w1[:, None]) - xt).abs() * m[:, None]).sum() / msum
            mb = m > 0
            acc = ((logits > 0) == (t > 0.5))[mb].float().mean()
            acc1 = ((w1 >= 0.5) == (t > 0.5))[mb].float().mean()  # stage one on the same pixels, for comparison
        return self.ce * bce + self.recon * l1, {"bce": float(bce.detach()), "acc": float(acc), "acc_stage1": float(acc1), "l1": float(l1.detach()) * 255,
                                       "l1_stage1": float(l1_stage1) * 255}

    def validate(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        out = validate_on_set(self, model, cfg, device, fuse_numpy)
        out.update(self._validate_band(model, cfg, device))
        return out

    def _validate_band(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        """The error near the true focus border (MAE in grey levels within 16 px, as
        ``scripts/eval_boundary_band.py``) of the method and of stage one alone, on ``band_val`` pairs
        per variant of the validation set taken after its first 20 (those the results are reported
        on). With ``best`` set, the weights are saved there whenever the mean band error improves."""
        n = int(cfg.options.get("band_val", 0))
        folder = validation_folder(cfg)
        if n <= 0 or folder is None:
            return {}
        if self._band_val is None:
            from ..synthetic import validation_set

            self._band_val = []
            for v in VARIANTS:
                for p in validation_set(folder, v, n=20 + n)[20:]:
                    t = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)  # noqa: E731
                    a, b, truth = t(p.a), t(p.b), t(p.truth)
                    w1 = model.stage_one(a, b)
                    near = torch.from_numpy(_border_band(p.focus, 16.0)).to(device)
                    self._band_val.append((v, a, b, truth, w1, near))
        out: dict[str, list[float]] = {}
        for v, a, b, truth, w1, near in self._band_val:
            w = model.refine(a, b, w1)[0]
            for name, ww in (("band_mae", w), ("band_mae_stage1", w1)):
                e = (torch.lerp(b, a, ww[:, None]).clamp(0, 1) - truth).abs()[0].permute(1, 2, 0)[near]
                out.setdefault(f"{v}_{name}", []).append(float(e.mean()) * 255)
        res = {k: float(np.mean(x)) for k, x in out.items()}
        mean = float(np.mean([res[f"{v}_band_mae"] for v in VARIANTS]))
        res["band_mae"] = mean
        res["band_mae_stage1"] = float(np.mean([res[f"{v}_band_mae_stage1"] for v in VARIANTS]))
        best = cfg.options.get("best")
        if best and mean < self._best:
            self._best = mean
            torch.save({"model": {k: x.detach().float().cpu() for k, x in model.state_dict().items()},
                        "band_mae": mean}, best)
        return res

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        return {"kind": self.name, **model.meta(),
                "stage1_source": "python/mfif/weights/hf_seg.pt (copied, frozen)" if not cfg.options.get("stage1")
                else "a given HF-Seg weights file (copied, frozen)",
                "data": ("photos of BSDS500 train (Arbelaez et al. 2011) and Clothing Co-Parsing (Yang et al. "
                         "2014) with their region maps" if cfg.data and
                         os.path.isdir(os.path.join(cfg.data, "bsds500")) else "a user's folder of photos")}


def _border_band(focus: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` (Euclidean) of the border of ``focus >= 0.5``: bool [H, W]."""
    import cv2

    f = (focus >= 0.5).astype(np.uint8)
    if f.min() == f.max():
        return np.zeros(f.shape, bool)
    d_in = cv2.distanceTransform(f, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - f, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(f == 1, d_in, d_out) <= radius


def fuse_numpy(model: torch.nn.Module, a: np.ndarray, b: np.ndarray, device: torch.device) -> np.ndarray:
    """Fuse two ``[H, W, 3]`` float images with both stages (the soft merged map, eq. 2)."""
    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None].to(device)
    return model(ta, tb)[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
