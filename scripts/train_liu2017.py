#!/usr/bin/env python
"""Train the focus network of Liu et al. 2017 (mfif.models.LiuNet) on CPU.

Training data as in the paper (paper 001, section II c): grey images, five
blur levels from a cascaded 7x7 Gaussian of sigma 2 (level k = the image
blurred k times), pairs of a sharp and a blurred patch in both orders
(label "first is in focus" for (sharp, blurred), the other for
(blurred, sharp)); a window only counts when its sharp patch has a variance
above 25 (on the 0..255 scale).

Where this differs from the paper (all documented in the README):
- Images: the natural photographs bundled with scikit-image (also at half
  size) and procedural dead-leaves scenes (mfif.synthetic.dead_leaves),
  never the evaluation data (Lytro, grey pairs, pcb stacks).
- Dense crops: each example is a 32x32 crop pair with the same blur level over
  the crop; the network runs on it densely (as at inference), giving 9x9
  scores, each one the score of a 16x16 patch pair (the paper's patch size),
  all with the crop's label. One crop costs 4x a 16x16 patch but gives 81
  patch pairs, and the patches see the same border context as in dense use.
- Pairs also of two blurred levels (the less blurred one is "in focus"),
  shared flips/rotations, brightness/contrast jitter, a small gain mismatch
  and sensor noise, so the scores hold on real photographs.
- Adam with a cosine schedule instead of SGD with momentum (far fewer steps
  fit in a CPU budget), the folded head (one 8x8 conv 512->2) trained directly.

The shipped weights (python/mfif/weights/liu2017.pt): the first 150 steps of
a 500-step cosine schedule, one thread, shipping the mean of the weights at
steps 125 and 150 (--average-from 125); about 8 minutes on one core of a
shared machine, deterministic for a given torch version and thread count
(torch 2.13.0, --threads 1):
    PYTHONPATH=python python scripts/train_liu2017.py --threads 1 --steps 500 --stop-at 150 \
        --average-from 125 --checkpoint build/liu2017_ckpt.pt --out python/mfif/weights/liu2017.pt
(the README's "Liu 2017 model" section says how this point was chosen).

Optional data, tried and not used by the shipped weights (see the README):
--blur mixed adds disc (pillbox) defocus stacks; --layered P makes a fraction
P of every batch from two-layer occlusion-defocus scenes (layered_scenes: a
fence- or object-like foreground over a background, each layer disc-blurred
when out of focus, the blurred foreground's halo spreading over the sharp
background), labelled per 16x16 window by --layered-label (truth: the source
closer to the all-in-focus image; coverage: the layer that fills most of the
window). scripts/val_liu2017_layered.py scores weights on held-out scenes of
that kind.
It resumes from --checkpoint if that file exists.

This script is kept for its options and its command; the data code lives in
mfif.train.liu2017_data and the training loop is mfif's one loop (mfif.train),
the same as `mfif train liu2017`, which gives the same weights bit for bit.
"""
from __future__ import annotations

import argparse
import sys

from mfif.train.liu2017_data import (CROP, DISC_RADII, KSIZE, LAYERED_RADII, LAYERED_SIZE, LEVELS,  # noqa: F401
                                     SIGMA, SKIMAGE_IMAGES, VAR_MIN, LayeredSampler, PairSampler, accuracy,
                                     blur_levels, disc_blur, disc_levels, grey, layered_scenes, occluder,
                                     source_images, weighted_ce)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=64, help="crop pairs per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--blur", choices=["gaussian", "mixed"], default="gaussian",
                    help="gaussian: the paper's cascade; mixed: also disc (lens-like) blur stacks")
    ap.add_argument("--layered", type=float, default=0.0,
                    help="fraction of each batch from two-layer occlusion-defocus scenes (labels from the truth)")
    ap.add_argument("--layered-label", choices=["truth", "coverage"], default="truth",
                    help="labels of the layered windows (see LayeredSampler)")
    ap.add_argument("--init", default=None, help="start from these weights (fine-tuning) instead of Xavier")
    ap.add_argument("--seed", type=int, default=2017)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dead-leaves", type=int, default=24)
    ap.add_argument("--out", default="python/mfif/weights/liu2017.pt")
    ap.add_argument("--checkpoint", default="build/liu2017_ckpt.pt")
    ap.add_argument("--every", type=int, default=25, help="log/validate/checkpoint every N steps")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="end after this step (the schedule still follows --steps); resumes from --checkpoint")
    ap.add_argument("--average-from", type=int, default=None,
                    help="ship the mean of the weights at every --every-th step from this one on (SWA)")
    args = ap.parse_args(argv)

    from mfif.train import config, get_task, run

    options = {"blur": args.blur, "layered": args.layered, "layered_label": args.layered_label,
               "dead_leaves": args.dead_leaves, "init": args.init or ""}
    cfg = config("liu2017", args.out, checkpoint=args.checkpoint or None, steps=args.steps, stop_at=args.stop_at,
                 batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads, every=args.every,
                 average_from=args.average_from, progress=False, options=options)
    meta = run(get_task("liu2017"), cfg)
    print(f"meta: {meta}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
