"""Seconds per fusion for every installed method: the README's speed table.

Times ``mfif.fuse`` (loading, fusion, conversion back to 8 bits; not the
interpreter's start nor writing the output) on

- ``pair``: the sample pair the repository ships (``samples/coffee-*.jpg``, 600x400);
- ``stack``: a generated 7-frame colour stack of 1024x768 frames (arrays in
  memory, ``mfif.synthetic`` dead-leaves scenes at seven focus depths), for
  the methods that stream N frames (pairwise methods fuse it pair by pair);

on the CPU and, with ``--device cuda``, on the GPU. Each figure is the median of
``--runs`` runs after one warm-up run. On the CPU the figure is the process's
CPU time (all threads; ``--threads`` torch/OpenCV threads, default 1), which a
machine shared with other jobs inflates far less than the wall time; on a quiet
machine with one thread the two agree. On CUDA it is the wall time (the result
is copied back, so the GPU has finished). Methods added to the registry are
timed too.

Usage:
    PYTHONPATH=python python scripts/bench_methods.py [--runs 3] [--threads 1] [--device cpu]
        [--methods gff,focus] [--markdown]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))


def _stack(n: int = 7, h: int = 768, w: int = 1024) -> list[np.ndarray]:
    """n frames of one generated scene focused at n depths (depth grows left to right), uint8 RGB."""
    import cv2

    from mfif import io, synthetic

    sharp = synthetic.dead_leaves(h, w, seed=3).astype(np.float32)
    levels = np.stack([sharp] + [cv2.GaussianBlur(sharp, (0, 0), s) for s in (1.5, 3.0, 5.0)])
    depth = np.linspace(0, 1, w, dtype=np.float32)[None, :].repeat(h, 0)
    frames = []
    for i in range(n):
        level = np.clip(np.rint(np.abs(depth - i / (n - 1)) * 6), 0, 3).astype(np.int64)
        pick = np.take_along_axis(levels, np.broadcast_to(level[None, ..., None], (1, h, w, 3)), 0)[0]
        frames.append(io.from_float(np.clip(pick, 0, 1)))
    return frames


def _time(fn, runs: int, clock=time.process_time) -> float:
    fn()  # warm-up: weights, caches, thread pools
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", default=None, help="comma-separated names (default: all installed)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()

    import cv2
    import torch

    import mfif

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    names = args.methods.split(",") if args.methods else mfif.methods.available()
    pair = [os.path.join(ROOT, "samples", f) for f in ("coffee-near.jpg", "coffee-far.jpg")]
    stack = _stack()
    clock = time.process_time if args.device == "cpu" else time.perf_counter
    rows = []
    for name in names:
        t_pair = _time(lambda: mfif.fuse(pair, method=name, device=args.device, align=False), args.runs, clock)
        t_stack = _time(lambda: mfif.fuse(stack, method=name, device=args.device, align=False), args.runs, clock)
        rows.append((name, t_pair, t_stack))
        print(f"{name}: pair {t_pair:.3f} s, 7-frame stack {t_stack:.3f} s", file=sys.stderr)
    if args.markdown:
        kind = f"CPU time, {args.threads} thread{'s' if args.threads > 1 else ''}" if args.device == "cpu" else f"wall time on {args.device}"
        print(f"| method ({kind}) | sample pair, 600x400 | 7 frames, 1024x768 |")
        print("|---|---|---|")
        for name, a, b in rows:
            print(f"| `{name}` | {a:.2f} s | {b:.2f} s |")


if __name__ == "__main__":
    main()
