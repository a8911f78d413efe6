#!/usr/bin/env python
"""HF-Seg / HF-Reg on real Lytro data: swap commutativity of the 20 pairs and the 4 triplets as stacks.

1. For each Lytro pair: fuse (A, B) and (B, A) with each method and print the mean absolute
   difference of the two fused images (on [0, 1], float; the paper reports an MSE of 1e-5).
2. The four Lytro triplets fused as 3-frame stacks (functional power f(f(A, B), C), mfif.fuse),
   written side by side with their sources into one figure (one row per triplet).

    PYTHONPATH=python python scripts/eval_hourglass_lytro.py [--methods hf-seg,hf-reg]
        [--data ../shared/data] [--figure docs/hourglass_triplets.jpg]
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
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--methods", default="hf-seg,hf-reg")
    ap.add_argument("--figure", default=None, help="write the triplet figure here (JPEG/PNG)")
    ap.add_argument("--figure-method", default="hf-seg")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import cv2
    import torch

    import mfif
    import mfif.methods as M
    from mfif import io

    torch.set_num_threads(args.threads)
    lytro = os.path.join(args.data, "lytro")
    if not os.path.isdir(lytro):
        print(f"error: {lytro} not found; pass --data pointing at the shared data folder", file=sys.stderr)
        return 2
    t = lambda p: torch.from_numpy(io.to_float(io.read_image(p)).transpose(2, 0, 1).copy())[None]  # noqa: E731
    for name in args.methods.split(","):
        m = M.get(name)
        diffs = []
        for k in range(1, 21):
            a, b = (t(os.path.join(lytro, f"lytro-{k:02d}-{s}.jpg")) for s in "AB")
            d = (m.fuse_pair(a, b).fused - m.fuse_pair(b, a).fused).abs().mean()
            diffs.append(float(d))
        print(f"{name}: swap mean abs diff over 20 Lytro pairs: mean {np.mean(diffs):.2e}, max {np.max(diffs):.2e}",
              flush=True)
    triple = os.path.join(args.data, "lytro_triple")
    rows = []
    for k in range(1, 5):
        paths = [os.path.join(triple, f"lytro3-{k:02d}-{s}.jpg") for s in "ABC"]
        res = mfif.fuse(paths, method=args.figure_method)
        imgs = [io.read_image(p) for p in paths] + [np.asarray(res.fused)]
        rows.append(np.concatenate(imgs, axis=1))
        print(f"triplet {k}: {res.summary()}", flush=True)
    if args.figure:
        fig = np.concatenate(rows, axis=0)
        scale = 1600 / fig.shape[1]
        fig = cv2.resize(fig, (1600, int(fig.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        if args.figure.lower().endswith((".jpg", ".jpeg")):
            with io.atomic_output(args.figure, ".jpg") as tmp:
                cv2.imwrite(tmp, fig[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        else:
            io.write_image(args.figure, fig)
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
