#!/usr/bin/env python
"""Time boundary-aware on Lytro pairs (520x520): stage one, stage two, the whole method, hf-seg.

    PYTHONPATH=python python scripts/bench_boundary_aware.py [--pairs 1,5,10] [--threads 2] [--repeat 3]

Prints per pair the band's share of the image, the number of stage-two patches and the median wall
times; with ``--cpu`` the median CPU time of the process instead (a fairer figure on a shared,
oversubscribed machine: it counts the work, not the waiting; with N threads it is up to N times the
wall time of an idle machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--pairs", default="1,5,10")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="report process CPU time instead of wall time")
    args = ap.parse_args(argv)

    import torch

    import mfif.methods as M
    from mfif import io
    from mfif.models.boundary_aware import block_origins

    torch.set_num_threads(args.threads)
    ba, hf = M.get("boundary-aware"), M.get("hf-seg")
    net = ba.network()

    clock = time.process_time if args.cpu else time.perf_counter

    def med(fn):
        fn()
        ts = []
        for _ in range(args.repeat):
            t = clock()
            fn()
            ts.append(clock() - t)
        return statistics.median(ts)

    unit = "CPU s" if args.cpu else "s"
    print(f"| pair | band share | patches | stage one ({unit}) | stage two ({unit}) | boundary-aware ({unit}) | "
          f"hf-seg ({unit}) |")
    print("|---|---|---|---|---|---|---|")
    for k in (int(v) for v in args.pairs.split(",")):
        a, b = (torch.from_numpy(io.read_image(os.path.join(args.data, "lytro", f"lytro-{k:02d}-{s}.jpg")))
                .permute(2, 0, 1)[None].float() / 255 for s in "AB")
        with torch.no_grad():
            w1 = net.stage_one(a, b)
            merged, band = net.refine(a, b, w1)
            t1 = med(lambda: net.stage_one(a, b))
            t2 = med(lambda: net.refine(a, b, w1))
        tt = med(lambda: ba.fuse_pair(a, b))
        th = med(lambda: hf.fuse_pair(a, b))
        print(f"| lytro-{k:02d} | {float(band.float().mean()):.1%} | {len(block_origins(band[0]))} | {t1:.3f} | "
              f"{t2:.3f} | {tt:.3f} | {th:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
