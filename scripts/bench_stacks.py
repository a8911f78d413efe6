"""Time and peak memory of `mfif fuse` on the pcb focus stacks, sharpness of the crops, README crops.

Runs the whole command (interpreter start, imports, alignment, fusion, writing
the image and the depth map) in a fresh process, ``--runs`` times per stack and
setting, and reports medians of the wall time and of the peak RSS (the child's
``ru_maxrss``) next to focus-stack's figures from issue 6 (4.7 s / 855 MB on
stack7, 6.8 s / 914 MB on depthmap10, on a 2-core machine like this one).

Sharpness is the mean squared gradient of the grey crop of the barcode (stack7)
and of the printed "36" (depthmap10). focus-stack's output exists for stack7
only (``expected.jpg``); it is registered onto mfif's result first (ECC,
similarity) so both crops show the same part of the board.

Usage:
    PYTHONPATH=python python scripts/bench_stacks.py [--runs 3] [--data ../shared/data/focus_stack_pcb]
        [--out /tmp/mfif-bench] [--docs docs/align] [--markdown docs/align/RESULTS.md]
"""
from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FOCUS_STACK = {"stack7": (4.7, 855), "depthmap10": (6.8, 914)}  # seconds, MB (issue 6)
# crops (x0, y0, x1, y1) in the reference frame's pixels (mfif aligns to the middle frame)
CROPS = {"stack7": ("barcode", (1100, 0, 1500, 360)), "depthmap10": ("36", (0, 60, 300, 300))}


def run_cli(args: list[str]) -> tuple[float, float, float, str]:
    """(wall s, peak RSS MB, CPU s) of one `mfif fuse` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    t = time.perf_counter()
    # a wrapper process per run, so ru_maxrss of the children is this run's peak
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); sys.stdout.write(r.stdout + r.stderr); "
            "print(f'@@ {u.ru_maxrss} {u.ru_utime + u.ru_stime} {r.returncode}')")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "mfif.cli", "fuse", *args],
                         capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    last = out.stdout.strip().splitlines()[-1].split()
    rss_kb, cpu, rc = float(last[1]), float(last[2]), int(last[3])
    if rc != 0:
        raise RuntimeError(f"mfif fuse failed: {out.stdout}")
    return wall, rss_kb / 1024, cpu, out.stdout


def sharpness(img: np.ndarray) -> float:
    """Mean squared gradient (forward differences) of the grey image, grey levels^2."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float64) if img.ndim == 3 else img.astype(np.float64)
    gx, gy = np.diff(g, axis=1)[:-1], np.diff(g, axis=0)[:, :-1]
    return float(np.mean(gx * gx + gy * gy))


def register_onto(moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """``moving`` (BGR) warped onto ``fixed`` with a similarity estimated at 1/4 size."""
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from mfif import align

    small = [cv2.resize(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), None, fx=0.25, fy=0.25,
                        interpolation=cv2.INTER_AREA).astype(np.float32) / 255 for x in (fixed, moving)]
    T, _ = align.ecc_pair(small[0], small[1], model="similarity")
    return align.warp_array(moving, align.rescale(T, 4, 4), interpolation="cubic")


def crop(img, box):
    x0, y0, x1, y1 = box
    return img[y0:y1, x0:x1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "focus_stack_pcb"))
    ap.add_argument("--out", default="/tmp/mfif-bench")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs", "align"))
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    ap.add_argument("--method", default=None, help="fusion method (default: the CLI's default for stacks)")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"{args.data}: the pcb stacks are not there (they live in ../shared/data/focus_stack_pcb)")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.docs, exist_ok=True)
    rows, sharp_rows = [], []
    for stack, (fs_s, fs_mb) in FOCUS_STACK.items():
        frames = sorted(glob.glob(os.path.join(args.data, stack, "pcb_*")))
        results = {}
        for label, extra in (("aligned", []), ("not aligned", ["--no-align"])):
            out = os.path.join(args.out, f"{stack}-{'al' if extra == [] else 'noal'}.png")
            depth = os.path.join(args.out, f"{stack}-{'al' if extra == [] else 'noal'}-depth.png")
            cmd = [*frames, "-o", out, "--depth-map", depth, *extra]
            if args.method:
                cmd += ["--method", args.method]
            runs = [run_cli(cmd) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[1] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            results[label] = cv2.imread(out)
            rows.append((stack, label, wall, rss, cpu, fs_s, fs_mb, os.getloadavg()[0]))
            print(f"{stack} {label}: wall {wall:.2f} s (limit {fs_s / 2:.2f}), peak RSS {rss:.0f} MB "
                  f"(limit {fs_mb / 2:.0f}), CPU {cpu:.2f} s, load {os.getloadavg()[0]:.1f}", flush=True)
            if label == "aligned":
                print("\n".join("   " + line for line in runs[0][3].splitlines() if not line.startswith("@@")))
        name, box = CROPS[stack]
        crops = {"mfif": crop(results["aligned"], box), "mfif --no-align": crop(results["not aligned"], box)}
        expected = os.path.join(args.data, stack, "expected.jpg")
        if os.path.isfile(expected):
            crops["focus-stack"] = crop(register_onto(cv2.imread(expected), results["aligned"]), box)
        for k, c in crops.items():
            fname = f"{stack}-{name}-{k.replace(' ', '').replace('--', '-')}.png"
            cv2.imwrite(os.path.join(args.docs, fname), c)
            sharp_rows.append((stack, name, k, sharpness(c), fname))
            print(f"  {stack} '{name}' {k}: mean squared gradient {sharpness(c):.1f} -> {fname}")
    lines = [f"| stack | alignment | wall s (median of {args.runs}) | limit (0.5x focus-stack) | peak RSS MB "
             "| limit MB | CPU s | load avg |", "|---|---|---|---|---|---|---|---|"]
    for stack, label, wall, rss, cpu, fs_s, fs_mb, load in rows:
        lines.append(f"| {stack} | {label} | {wall:.2f} | {fs_s / 2:.2f} | {rss:.0f} | {fs_mb / 2:.0f} | {cpu:.2f} "
                     f"| {load:.1f} |")
    lines += ["", "| stack | crop | result | mean squared gradient | file |", "|---|---|---|---|---|"]
    for stack, name, k, s, fname in sharp_rows:
        lines.append(f"| {stack} | {name} | {k} | {s:.1f} | {fname} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
