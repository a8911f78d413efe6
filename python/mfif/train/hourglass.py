"""Training tasks of the hourglass networks of paper 002: ``hf-seg`` and ``hf-reg``.

Data: :class:`mfif.synthetic.PairSampler` crops of photographs with region maps, a mix of the
paper's Gaussian recipe and the realistic layered disc-defocus one (option ``realistic``, the
probability of the latter). Every pair is given in both orders in the same batch (section IV-C),
the focus map inverted for the swapped one. Losses: eq. 3 (cross-entropy of the 2-class softmax)
for HF-Seg, eq. 4 (:func:`mfif.ops.nps_loss`, ``alpha`` 6) for HF-Reg. Validation: PSNR and SSIM
against the truth of the first ``val_n`` pairs of each variant of the fixed validation set.

``--data`` may be the training folder of the data set (holding ``bsds500/`` and ``ccp/``: the
photos of ``bsds500/train`` and ``ccp`` are used, and ``bsds500/val`` validates), or any folder of
photos with or without region maps (:class:`mfif.synthetic.PhotoSet`).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..models.hourglass import WIDTHS, HFReg, HFSeg
from ..synthetic import VARIANTS, PairSampler, validation_set
from .loop import TrainConfig

__all__ = ["HourglassTask", "psnr", "training_folders", "validate_on_set", "validation_folder"]

RGB_TO_GREY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103], np.float32)


def training_folders(root: str) -> list[str]:
    """The photo folders to train on under ``root`` (see the module docstring)."""
    if not os.path.isdir(root):
        raise ValueError(f"training data folder {root!r} does not exist; give --data a folder of photos")
    if os.path.isdir(os.path.join(root, "bsds500")):
        out = [os.path.join(root, "bsds500", "train")]
        if os.path.isdir(os.path.join(root, "ccp")):
            out.append(os.path.join(root, "ccp"))
        return out
    return [root]


def validation_folder(cfg: TrainConfig) -> str | None:
    """``cfg.val``, else ``<data>/bsds500/val`` when it exists, else None (no validation)."""
    if cfg.val:
        return cfg.val
    if cfg.data and os.path.isdir(os.path.join(cfg.data, "bsds500", "val")):
        return os.path.join(cfg.data, "bsds500", "val")
    return None


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """PSNR in dB of ``x`` against ``y`` (both in [0, 1]); capped at 100 dB for identical images."""
    mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
    return 100.0 if mse <= 1e-10 else 10 * np.log10(1.0 / mse)


def parse_widths(text: str) -> tuple[int, ...]:
    """``"16,24,32,48"`` -> ``(16, 24, 32, 48)``: the channels of the hourglass's levels (option ``widths``)."""
    try:
        widths = tuple(int(t) for t in str(text).split(",") if t.strip())
    except ValueError:
        raise ValueError(f"widths must be comma-separated integers such as 16,24,32,48, got {text!r}") from None
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths needs at least two positive channel counts (levels), got {text!r}")
    return widths


def _grey(x: np.ndarray) -> np.ndarray:
    return np.einsum("nchw,c->nhw", x, RGB_TO_GREY)[:, None].astype(np.float32)


class HourglassTask:
    """The ``hf-seg`` or ``hf-reg`` task (see the module docstring)."""

    def __init__(self, kind: str):
        if kind not in ("hf-seg", "hf-reg"):
            raise ValueError(f"kind must be 'hf-seg' or 'hf-reg', got {kind!r}")
        self.name = kind
        self.defaults: dict[str, Any] = {
            "steps": 5000, "batch": 4, "lr": 1e-3, "warmup": 100, "every": 250, "seed": 2019,
            "options": {"crop": 128, "realistic": 0.5, "channels": 3, "alpha": 6.0, "val_n": 8,
                        "widths": ",".join(map(str, WIDTHS)), "recon": 0.0},
        }
        self._val: list | None = None
        self.options: dict[str, Any] = dict(self.defaults["options"])

    def build(self, cfg: TrainConfig) -> torch.nn.Module:
        cls = HFSeg if self.name == "hf-seg" else HFReg
        net = cls(channels=int(cfg.options["channels"]), widths=parse_widths(cfg.options["widths"]))
        for m in net.modules():  # Xavier weights, zero biases (paper section V)
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.xavier_normal_(m.weight)
                torch.nn.init.zeros_(m.bias)
        return net.to(memory_format=torch.channels_last) if cfg.device == "cpu" else net

    def data(self, cfg: TrainConfig) -> PairSampler:
        if not cfg.data:
            raise ValueError("give --data a folder of photos (e.g. the data set's train/ folder)")
        self.options = dict(cfg.options)
        return PairSampler(training_folders(cfg.data), crop=int(cfg.options["crop"]),
                           realistic=float(cfg.options["realistic"]), seed=cfg.seed)

    def _tensors(self, batch: dict, channels: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        conv = (lambda x: x) if channels == 3 else _grey
        a, b, truth = (torch.from_numpy(conv(batch[k])).to(device) for k in ("a", "b", "truth"))
        focus = torch.from_numpy(batch["focus"]).to(device)
        # both orders of every pair (section IV-C): swapped sources, inverted focus map, same truth
        return torch.cat([a, b]), torch.cat([b, a]), torch.cat([truth, truth]), torch.cat([focus, 1 - focus])

    def loss(self, model: torch.nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, dict]:
        a, b, truth, focus = self._tensors(batch, model.channels, device)
        if self.name == "hf-seg":
            logits = model.logits(a, b)
            target = (focus[:, 0] < 0.5).long()  # class 0: take a (eq. 3)
            loss = F.cross_entropy(logits, target)
            acc = (logits.argmax(1) == target).float().mean()
            recon = float(self.options.get("recon", 0.0))
            if recon > 0:
                # an L1 term on eq. 2's weighted average against the truth: it rewards soft weights where
                # neither source is sharp (the realistic pairs' occlusion edges), which eq. 3 alone cannot
                w = torch.softmax(logits, 1)[:, :1]
                l1 = (torch.lerp(b, a, w) - truth).abs().mean()
                return loss + recon * l1, {"acc": float(acc), "l1": float(l1.detach())}
            return loss, {"acc": float(acc)}
        from ..ops import nps_loss

        pred = model(a, b).contiguous()
        return nps_loss(pred, truth.contiguous(), alpha=float(self.options["alpha"]), reduction="mean"), {}

    def validate(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        return validate_on_set(self, model, cfg, device, fuse_numpy)

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        return {"kind": self.name, "channels": model.channels, "widths": list(model.body.widths),
                "data": ("photos of BSDS500 train (Arbelaez et al. 2011) and Clothing Co-Parsing (Yang et al. "
                         "2014) with their region maps" if cfg.data and
                         os.path.isdir(os.path.join(cfg.data, "bsds500")) else "a user's folder of photos")}


def validate_on_set(task, model: torch.nn.Module, cfg: TrainConfig, device: torch.device, fuse) -> dict[str, float]:
    """Mean PSNR and SSIM against the truth of the fixed validation set (both variants), the pairs
    fused by ``fuse(model, a, b, device)``; the set is made once and kept on ``task._val``."""
    folder = validation_folder(cfg)
    if folder is None:
        return {}
    if task._val is None:
        n = int(cfg.options["val_n"])
        task._val = [(v, p) for v in VARIANTS for p in validation_set(folder, v, n=n)]
    from skimage.metrics import structural_similarity

    out: dict[str, list[float]] = {}
    for variant, p in task._val:
        fused = fuse(model, p.a, p.b, device)
        out.setdefault(f"{variant}_psnr", []).append(psnr(fused, p.truth))
        out.setdefault(f"{variant}_ssim", []).append(
            float(structural_similarity(fused, p.truth, data_range=1.0, channel_axis=-1)))
    return {k: float(np.mean(v)) for k, v in out.items()}


def fuse_numpy(model: torch.nn.Module, a: np.ndarray, b: np.ndarray, device: torch.device) -> np.ndarray:
    """Fuse two ``[H, W, 3]`` float images with an HF network (grey networks see the grey images)."""
    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None].to(device)
    if model.channels == 1:
        w = torch.from_numpy(RGB_TO_GREY).to(device)[None, :, None, None]
        ga, gb = (ta * w).sum(1, keepdim=True), (tb * w).sum(1, keepdim=True)
        if isinstance(model, HFSeg):
            fused = torch.lerp(tb, ta, model.weights(ga, gb)[:, None])
        else:
            fused = model(ga, gb).expand(-1, 3, -1, -1)
    else:
        fused = model(ta, tb)
    return fused[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
