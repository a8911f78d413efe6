#!/usr/bin/env python
"""Held-out check of Liu 2017 weights on synthetic two-layer defocus pairs (no evaluation data).

Scenes from scripts/train_liu2017.py's layered_scenes (a fence- or object-like
foreground over a background, disc defocus with the foreground's halo), with
textures from dead-leaves seeds the training never uses and the bundled
scikit-image photographs, 256x256, fixed seed. Each weights file runs the full
liu2017 pipeline; printed: the mean QG and QY against the two sources and the
PSNR and MAE against the all-in-focus truth.

    PYTHONPATH=python python scripts/val_liu2017_layered.py W1.pt [W2.pt ...] [--scenes 16] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_liu2017 import grey, layered_scenes, source_images  # noqa: E402

from mfif.metrics import evaluate  # noqa: E402
from mfif.methods.liu2017 import Liu2017  # noqa: E402
from mfif.synthetic import dead_leaves  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    textures = source_images(0, 0) + [grey(dead_leaves(320, 320, seed=70_000 + k)) for k in range(12)]
    scenes = layered_scenes(textures, args.scenes, np.random.default_rng(4242), size=256)
    for w in args.weights:
        method = Liu2017(weights=w)
        rows = []
        for s in scenes:
            near, far, truth = (torch.from_numpy(np.clip(x, 0, 1))[None, None] for x in s[:3])
            res = method.fuse_pair(near, far)
            q = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
            rows.append(evaluate(q(s[0]), q(s[1]), q(res.fused[0, 0].numpy()), metrics=["QG", "QY", "PSNR", "MAE"],
                                 truth=q(s[2])))
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        print(f"{w}: " + ", ".join(f"{k} {v:.5f}" for k, v in mean.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
