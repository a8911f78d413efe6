#!/usr/bin/env python
"""Check the classic methods (quadtree, dsift) against the survey's outputs of their published code.

For each pair: fuse with ``mfif.fuse`` (as a user would, from the files), then
- the share of pixels within one grey level of the published output
  (``reference/fused/lytro-NN-<method>.png``; Lytro only) and the share equal to it,
- the survey's eight metrics (``mfif.metrics``) beside the survey's per-image values,
and the means against the published row of ``reference/liu_survey_table_means.csv``,
with the acceptance of the methods' issue: every image >= 98 % of its pixels
within one grey level, every mean within 0.003 of the published one (QCV within 1 %).

Usage (from a checkout whose ../shared/data holds the data):
    python scripts/eval_classic.py                          # both methods, 20 Lytro pairs
    python scripts/eval_classic.py --method dsift --dataset grayscale
    python scripts/eval_classic.py --pairs 3 --no-metrics   # a quick look at the agreement only
    python scripts/eval_classic.py --method dsift --first 11 --pairs 20   # pairs 11..20 (split a long run)
    python scripts/eval_classic.py --markdown docs_table.md # also write the per-image tables
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
DATASETS = {  # name -> (folder, file pattern, count, survey table row, per-image prefix, per-image csv)
    "lytro": ("lytro", "lytro-{:02d}-{}.jpg", 20, "lytro20_color", "c", "liu_survey_metrics_color_per_image.csv"),
    "grayscale": ("grayscale_classic", "grayscale-{:02d}-{}.tif", 10, "grayscale10", "g",
                  "liu_survey_metrics_grayscale_per_image.csv"),
}
METRICS = ["QMI", "QNCIE", "QG", "QP", "QE", "QY", "QCB", "QCV"]
MIN_WITHIN_ONE = 0.98
MEAN_TOL, QCV_REL_TOL = 0.003, 0.01


def published(data: str, dataset: str, method: str):
    """(per-image values {image: {metric: v}}, mean row {metric: v}) of ``method`` in the survey's tables."""
    folder, pattern, count, row, prefix, per_image_csv = DATASETS[dataset]
    ref = os.path.join(data, "reference")
    per_image, mean = {}, {}
    with open(os.path.join(ref, per_image_csv)) as f:
        for r in csv.DictReader(f):
            if r["method"].lower() == method:
                per_image[r["image"]] = {k: float(r[k]) for k in METRICS}
    with open(os.path.join(ref, "liu_survey_table_means.csv")) as f:
        for r in csv.DictReader(f):
            if r["dataset"] == row and r["method"].lower() == method:
                mean = {k: float(r[k]) for k in METRICS}
    return per_image, mean


def agreement(fused: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Shares of pixels (all channels) within one grey level of ``ref``, and equal to it."""
    d = np.abs(fused.astype(np.int32) - ref.astype(np.int32))
    if d.ndim == 3:
        d = d.max(2)
    return float((d <= 1).mean()), float((d == 0).mean())


def evaluate(method: str, dataset: str, data: str, pairs: int | None, metrics: bool, save_dir: str | None,
             first: int = 1):
    import mfif
    from mfif import io
    from mfif import metrics as M

    folder, pattern, count, _, prefix, _ = DATASETS[dataset]
    per_image_pub, mean_pub = published(data, dataset, method)
    rows = []
    for k in range(first, min(count, pairs or count) + 1):
        a, b = (os.path.join(data, folder, pattern.format(k, s)) for s in "AB")
        t0 = time.perf_counter()
        fused = mfif.fuse([a, b], method=method, device="cpu", align=False).fused
        row = {"image": f"{prefix}_{k:02d}", "s": time.perf_counter() - t0}
        stem = pattern.format(k, "X")[:-6]
        if save_dir:
            io.write_image(os.path.join(save_dir, f"{stem}-{method}.png"), fused)
        ref_path = os.path.join(data, "reference", "fused", f"{stem}-{method}.png")
        if os.path.isfile(ref_path):
            row["within1"], row["equal"] = agreement(fused, io.read_image(ref_path))
        if metrics:
            row.update(M.evaluate(a, b, fused, metrics=METRICS))
        rows.append(row)
        print(f"{method} {row['image']}: " + " ".join(
            f"{c}={row[c]:.4f}" for c in ["within1", "equal"] + METRICS if c in row) + f" ({row['s']:.2f} s)",
            flush=True)
    return rows, per_image_pub, mean_pub


def report(method, dataset, rows, per_image_pub, mean_pub) -> tuple[list[str], bool]:
    """Markdown lines (per-image table, means) and whether the acceptance holds."""
    ok = True
    has_ref = "within1" in rows[0]
    cols = (["within1", "equal"] if has_ref else []) + [m for m in METRICS if m in rows[0]]
    lines = [f"### {method} on {dataset} ({len(rows)} pairs)", "",
             "| image | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if c in ("within1", "equal"):
                cells.append(f"{100 * v:.3f} %")
                ok &= c != "within1" or v >= MIN_WITHIN_ONE
            else:
                pub = per_image_pub.get(r["image"], {}).get(c)
                cells.append(f"{v:.4f}" + (f" ({pub:.4f})" if pub is not None else ""))
        lines.append(f"| {r['image']} | " + " | ".join(cells) + " |")
    metric_cols = [m for m in METRICS if m in rows[0]]
    if metric_cols:
        mean = {m: float(np.mean([r[m] for r in rows])) for m in metric_cols}
        lines += ["", "| " + " | ".join(["row"] + metric_cols) + " |", "|---|" + "---|" * len(metric_cols),
                  f"| mfif `{method}` | " + " | ".join(f"{mean[m]:.4f}" for m in metric_cols) + " |"]
        if mean_pub:
            lines.append(f"| published {method.upper()} | " + " | ".join(f"{mean_pub[m]:.4f}" for m in metric_cols)
                         + " |")
            for m in metric_cols:
                tol = QCV_REL_TOL * abs(mean_pub[m]) if m == "QCV" else MEAN_TOL
                ok &= abs(mean[m] - mean_pub[m]) <= tol
    worst = min((r["within1"] for r in rows), default=float("nan")) if has_ref else float("nan")
    lines += ["", (f"worst image within one grey level: {100 * worst:.3f} %; " if has_ref else "") + "acceptance "
              f"({'all pairs >= 98 %, ' if has_ref else ''}means within {MEAN_TOL}, QCV within 1 %): "
              f"{'holds' if ok else 'FAILS'}", ""]
    return lines, ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", action="append", choices=["quadtree", "dsift"], help="default: both")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="lytro")
    p.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    p.add_argument("--pairs", type=int, help="stop at pair N (default: all)")
    p.add_argument("--first", type=int, default=1, help="start at pair K (split a long run into parts)")
    p.add_argument("--no-metrics", action="store_true", help="only the agreement with the published outputs")
    p.add_argument("--save-dir", help="also write each fused image here (lossless PNG)")
    p.add_argument("--markdown", help="write the tables to this file too")
    args = p.parse_args(argv)
    if not os.path.isdir(os.path.join(args.data, DATASETS[args.dataset][0])):
        print(f"error: no {DATASETS[args.dataset][0]}/ under {args.data}; pass --data pointing at the shared "
              "data folder", file=sys.stderr)
        return 2
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
    out, all_ok = [], True
    for method in args.method or ["quadtree", "dsift"]:
        rows, per_image_pub, mean_pub = evaluate(method, args.dataset, args.data, args.pairs,
                                                 not args.no_metrics, args.save_dir, args.first)
        lines, ok = report(method, args.dataset, rows, per_image_pub, mean_pub)
        all_ok &= ok
        out += lines
    print("\n".join(out))
    if args.markdown:
        from mfif.io import atomic_output
        with atomic_output(args.markdown) as tmp, open(tmp, "w") as f:
            f.write("\n".join(out) + "\n")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
