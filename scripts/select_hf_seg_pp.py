#!/usr/bin/env python
"""Choose hf-seg-pp's guided-filter radius and eps on synthetic validation photos not reported on.

For each (radius, eps) of a grid, the mean PSNR of hf-seg-pp's fusion against the truth over
validation photos ``--skip``..``--skip + --n`` (default 20..39: the reported figures use the first
20) of both variants, printed best first. Lytro is not used.

    PYTHONPATH=python python scripts/select_hf_seg_pp.py [--radii 1,2,3,4,8] [--eps 0.001,0.01,0.1]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--skip", type=int, default=20, help="validation photos to leave out first")
    ap.add_argument("--n", type=int, default=20, help="photos per variant after those")
    ap.add_argument("--radii", default="1,2,3,4,8")
    ap.add_argument("--eps", default="0.001,0.01,0.1")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from mfif.methods.hourglass import HFSegMethod
    from mfif.synthetic import validation_set
    from mfif.train.hourglass import psnr

    torch.set_num_threads(args.threads)
    folder = os.path.join(args.data, "train", "bsds500", "val")
    grid = [(int(r), float(e)) for r in args.radii.split(",") for e in args.eps.split(",")]
    scores: dict[tuple[int, float], list[float]] = {g: [] for g in grid}
    for variant in ("gaussian", "realistic"):
        pairs = validation_set(folder, variant, n=args.skip + args.n)[args.skip:]
        t = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # noqa: E731
        for r, e in grid:
            m = HFSegMethod(postprocess=True, radius=r, eps=e)
            v = [psnr(m.fuse_pair(t(p.a), t(p.b)).fused.clamp(0, 1)[0].permute(1, 2, 0).numpy(), p.truth)
                 for p in pairs]
            scores[r, e].append(float(np.mean(v)))
    print("| radius | eps | Gaussian PSNR | realistic PSNR | mean |\n|---|---|---|---|---|")
    for (r, e), v in sorted(scores.items(), key=lambda kv: -np.mean(kv[1])):
        print(f"| {r} | {e:g} | {v[0]:.3f} | {v[1]:.3f} | {np.mean(v):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
