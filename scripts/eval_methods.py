#!/usr/bin/env python
"""Score fusion methods on the Lytro (or classic grey) pairs against the published values.

For each pair: fuse with mfif (lossless, 8-bit), compute the survey's metrics
with ``mfif.metrics`` (QMI, QG, QY by default) and, where the data holds the
published output of the same method (GFF: ``*-gff.png``, Liu 2017 CNN:
``*-cnn.png``), the mean absolute difference to it in grey levels. Then the
mean row next to the published mean row of ``reference/liu_survey_table_means.csv``.

Usage (from a checkout whose ../shared/data holds the data):
    python scripts/eval_methods.py --method gff
    python scripts/eval_methods.py --method gff --method liu2017 --dataset grayscale --save-dir out/
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
DATASETS = {  # name -> (folder, file pattern, count, row name in the survey table)
    "lytro": ("lytro", "lytro-{:02d}-{}.jpg", 20, "lytro20_color"),
    "grayscale": ("grayscale_classic", "grayscale-{:02d}-{}.tif", 10, "grayscale10"),
}
PUBLISHED = {"gff": ("GFF", "gff"), "liu2017": ("CNN", "cnn")}  # mfif name -> (survey row, output suffix)


def published_means(data: str, dataset_row: str, method_row: str) -> dict[str, float]:
    path = os.path.join(data, "reference", "liu_survey_table_means.csv")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["dataset"] == dataset_row and row["method"] == method_row:
                return {k: float(v) for k, v in row.items() if k not in ("dataset", "method")}
    return {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", action="append", help="mfif method name (repeatable); default gff")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="lytro")
    p.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    p.add_argument("--metrics", default="QMI,QG,QY", help="comma-separated mfif.metrics names")
    p.add_argument("--device", default="cpu")
    p.add_argument("--save-dir", help="also write each fused image here (lossless PNG)")
    p.add_argument("--pairs", type=int, help="only the first N pairs (a quick look)")
    args = p.parse_args(argv)

    import mfif
    from mfif import io

    folder, pattern, count, dataset_row = DATASETS[args.dataset]
    src_dir = os.path.join(args.data, folder)
    if not os.path.isdir(src_dir):
        print(f"error: {src_dir} not found; pass --data pointing at the shared data folder", file=sys.stderr)
        return 2
    try:
        from mfif import metrics as M
    except ImportError:
        M = None
        print("note: mfif.metrics is not installed here; printing differences to the published outputs only")
    names = [m.strip().upper() for m in args.metrics.split(",")] if M is not None else []
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
    n_pairs = min(count, args.pairs or count)

    for method in args.method or ["gff"]:
        row_name, suffix = PUBLISHED.get(method, (None, None))
        cols = names + (["MAD"] if suffix else []) + ["s"]
        print(f"\n{method} on {args.dataset} ({n_pairs} pairs)")
        print("pair " + "".join(f"{c:>9}" for c in cols))
        rows = []
        for k in range(1, n_pairs + 1):
            a = os.path.join(src_dir, pattern.format(k, "A"))
            b = os.path.join(src_dir, pattern.format(k, "B"))
            t0 = time.perf_counter()
            fused = mfif.fuse([a, b], method=method, device=args.device).fused
            seconds = time.perf_counter() - t0
            stem = os.path.splitext(pattern.format(k, "X"))[0][:-2]
            if args.save_dir:
                io.write_image(os.path.join(args.save_dir, f"{stem}-{method}.png"), fused)
            values = dict(M.evaluate(a, b, fused, metrics=names)) if M is not None else {}
            if suffix:
                ref_path = os.path.join(args.data, "reference", "fused", f"{stem}-{suffix}.png")
                if os.path.isfile(ref_path):
                    ref = io.read_image(ref_path).astype(np.float64)
                    values["MAD"] = float(np.abs(fused.astype(np.float64) - ref).mean())
            values["s"] = seconds
            rows.append(values)
            print(f"{k:4d} " + "".join(f"{values.get(c, float('nan')):9.4f}" for c in cols))
        mean = {c: float(np.nanmean([r.get(c, np.nan) for r in rows])) for c in cols}
        print("mean " + "".join(f"{mean[c]:9.4f}" for c in cols))
        pub = published_means(args.data, dataset_row, row_name) if row_name else {}
        if pub and names:
            print("pub  " + "".join(f"{pub[c]:9.4f}" if c in pub else " " * 9 for c in cols))
            print("diff " + "".join(f"{mean[c] - pub[c]:+9.4f}" if c in pub else " " * 9 for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
