"""Training task of the Liu et al. 2017 focus network (``mfif train liu2017``).

The data of :mod:`mfif.train.liu2017_data` (bundled images, no ``--data`` needed), Xavier weights
and zero biases, Adam with a 20-step warm-up and a cosine schedule, the folded head trained
directly, the weighted cross-entropy of the dense 16x16-patch scores. Validation: loss and accuracy
on a fixed batch of 256 crop pairs of dead-leaves scenes the training never sees.

The shipped weights (``python/mfif/weights/liu2017.pt``) come from::

    mfif train liu2017 --threads 1 --steps 500 --stop-at 150 --average-from 125 --every 25 \\
        --out python/mfif/weights/liu2017.pt --checkpoint build/liu2017_ckpt.pt

(the same run as the former ``scripts/train_liu2017.py`` command, weights equal bit for bit).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..models.liu2017 import LiuNet
from . import liu2017_data as D
from .loop import TrainConfig

__all__ = ["Liu2017Task", "LiuSampler"]


def _cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)  # faster oneDNN convolutions on the CPU


class LiuSampler:
    """Batches of (first, second, labels, window weights): blur-stack crop pairs, plus a fraction of
    two-layer defocus crops (``layered``), deterministic for the seed and resumable."""

    def __init__(self, cfg: TrainConfig):
        o = cfg.options
        images = D.source_images(int(o["dead_leaves"]), seed=10_000 + cfg.seed)
        stacks = [D.blur_levels(im) for im in images]
        if o["blur"] == "mixed":
            stacks += [D.disc_levels(im) for im in images]
        elif o["blur"] != "gaussian":
            raise ValueError(f"liu2017 option blur must be 'gaussian' or 'mixed', got {o['blur']!r}")
        self.pairs = D.PairSampler(stacks, np.random.default_rng(cfg.seed))
        self.fraction = float(o["layered"])
        self.layered = None
        if self.fraction > 0:
            scenes = D.layered_scenes(images, 400, np.random.default_rng(cfg.seed + 1))
            self.layered = D.LayeredSampler(scenes, np.random.default_rng(cfg.seed + 2), str(o["layered_label"]))

    def sample(self, n: int):
        n_layered = int(round(n * self.fraction)) if self.layered is not None else 0
        a, b, labels, weights = self.pairs.sample(n - n_layered)
        if n_layered:
            la, lb, lt, lw = self.layered.sample(n_layered)
            a, b, weights = torch.cat([a, la]), torch.cat([b, lb]), torch.cat([weights, lw])
            labels = torch.cat([labels[:, None, None].expand(-1, *lt.shape[1:]), lt])
        return a, b, labels, weights

    def state_dict(self) -> dict:
        return {"pairs": self.pairs.rng.bit_generator.state,
                "layered": self.layered.rng.bit_generator.state if self.layered is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.pairs.rng.bit_generator.state = state["pairs"]
        if self.layered is not None and state.get("layered") is not None:
            self.layered.rng.bit_generator.state = state["layered"]


class Liu2017Task:
    """The ``liu2017`` task (see the module docstring)."""

    name = "liu2017"
    defaults: dict[str, Any] = {
        "steps": 500, "batch": 64, "lr": 1e-3, "warmup": 20, "every": 25, "seed": 2017,
        "options": {"blur": "gaussian", "layered": 0.0, "layered_label": "truth", "dead_leaves": 24, "init": ""},
    }

    def __init__(self):
        self._val = None

    def build(self, cfg: TrainConfig) -> torch.nn.Module:
        net = LiuNet()
        for m in net.modules():  # Xavier weights, zero biases (paper)
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.xavier_uniform_(m.weight)
                torch.nn.init.zeros_(m.bias)
        if cfg.options["init"]:
            net.load_state_dict(torch.load(cfg.options["init"], weights_only=True)["model"])
        return net.to(memory_format=torch.channels_last)

    def data(self, cfg: TrainConfig) -> LiuSampler:
        return LiuSampler(cfg)

    def loss(self, model: torch.nn.Module, batch, device: torch.device) -> tuple[torch.Tensor, dict]:
        a, b, labels, weights = (x.to(device) for x in batch)
        logits = model(_cl(a), _cl(b))
        loss, target = D.weighted_ce(logits, labels, weights)
        return loss, {"acc": D.accuracy(logits.detach(), target, weights)}

    def _val_batch(self):
        if self._val is None:  # dead leaves of other seeds, fixed batch, no jitter
            stacks = [D.blur_levels(D.grey(D.dead_leaves(256, 256, seed=90_000 + k))) for k in range(4)]
            self._val = D.PairSampler(stacks, np.random.default_rng(1), jitter=False).sample(256)
        return self._val

    def validate(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        a, b, labels, weights = (x.to(device) for x in self._val_batch())
        logits = model(_cl(a), _cl(b))
        loss, target = D.weighted_ce(logits, labels, weights)
        return {"loss": float(loss), "acc": D.accuracy(logits, target, weights)}

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        with torch.no_grad():
            val = self.validate(model, cfg, next(model.parameters()).device)
        o = cfg.options
        return {"blur": o["blur"], "layered": o["layered"], "layered_label": o["layered_label"],
                "init": o["init"] or None, "crop": D.CROP, "val_acc": round(val["acc"], 4),
                "data": "images bundled with scikit-image and procedural dead-leaves scenes"}
