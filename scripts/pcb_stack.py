#!/usr/bin/env python
"""Fuse the real pcb focus stacks with `mfif fuse`: time and peak memory against the number of frames.

Runs the command line (a fresh process each time, under /usr/bin/time -v) on
the first 3, 5, 7, ... frames of ../shared/data/focus_stack_pcb/{stack7,
depthmap10}, prints wall time and peak resident memory, and with --figures
writes docs/pcb_<stack>.jpg (the fused image and its depth map, quarter size).

Usage:
    python scripts/pcb_stack.py                       # default method for stacks
    python scripts/pcb_stack.py --method focus --counts 3,5,7 --figures
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
DATA = os.path.join(ROOT, "..", "shared", "data", "focus_stack_pcb")


def run(files, out, depth, method, threads):
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "mfif.cli", "fuse", *files, "-o", out,
           "--depth-map", depth, "-q"]
    if method:
        cmd += ["--method", method]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"mfif fuse failed: {p.stderr.strip().splitlines()[-1]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", p.stderr).group(1)
    parts = [float(x) for x in wall.split(":")]
    seconds = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    return seconds, rss


def figure(fused_path, depth_path, out_path):
    import cv2
    import numpy as np

    fused = cv2.imread(fused_path)
    depth = cv2.applyColorMap(cv2.imread(depth_path, cv2.IMREAD_GRAYSCALE), cv2.COLORMAP_VIRIDIS)
    h, w = fused.shape[:2]
    size = (w // 4, h // 4)
    panels = [cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (fused, depth)]
    strip = np.concatenate([panels[0], np.full((size[1], 4, 3), 255, np.uint8), panels[1]], 1)
    cv2.imwrite(out_path, strip, [cv2.IMWRITE_JPEG_QUALITY, 85])  # a photo: JPEG keeps the repository small


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stack", action="append", help="stack7 and/or depthmap10 (default both)")
    p.add_argument("--method", default=None)
    p.add_argument("--counts", default="3,5,7,all", help="numbers of frames to fuse ('all' = every frame)")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the runs")
    p.add_argument("--figures", action="store_true", help="write docs/pcb_<stack>.jpg from the full stack")
    args = p.parse_args(argv)
    if not os.path.isdir(DATA):
        print(f"error: {DATA} not found (the shared data is not part of a clone)", file=sys.stderr)
        return 2
    print(f"{'stack':12s}{'frames':>7s}{'wall s':>9s}{'peak MB':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for stack in args.stack or ["stack7", "depthmap10"]:
            files = sorted(glob.glob(os.path.join(DATA, stack, "pcb_*.[jJ][pP][gG]")))
            counts = [len(files) if c == "all" else int(c) for c in args.counts.split(",")]
            for n in dict.fromkeys(c for c in counts if c <= len(files)):
                out, depth = os.path.join(tmp, f"{stack}-{n}.png"), os.path.join(tmp, f"{stack}-{n}-depth.png")
                seconds, rss = run(files[:n], out, depth, args.method, args.threads)
                print(f"{stack:12s}{n:7d}{seconds:9.2f}{rss:9.0f}")
                if args.figures and n == len(files):
                    os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
                    figure(out, depth, os.path.join(ROOT, "docs", f"pcb_{stack}.jpg"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
