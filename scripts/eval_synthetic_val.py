#!/usr/bin/env python
"""Fusion methods on the fixed synthetic validation set (BSDS500 val, mfif.synthetic.validation_set).

For each variant (the paper's Gaussian recipe and the realistic layered disc defocus) and each method:
the mean PSNR (dB) and SSIM of the fused image against the all-in-focus truth, and the mean time per
pair, as one table of rows (variant, method) and one of a row per method. Two reference rows: "truth map" (the generator's focus map used as the decision) and "oracle"
(each pixel from the source closer to the truth), and the oracle on the sources brought to a common
exposure (mfif.pipeline.equalize_exposure). Methods are named as in scripts/method_spec.py
(``hf-seg:equalize=false``, ``pyramid+eq``). Prints a Markdown table and writes a CSV.

    PYTHONPATH=python python scripts/eval_synthetic_val.py [--n 100] [--methods hf-seg,liu2017,...]
        [--data ../shared/data] [--threads 2] [--csv reports/synthetic_val.csv]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

from method_spec import fuse, method, split_specs

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
METHODS = "hf-seg,hf-seg:equalize=false,hf-seg-pp,hf-reg,hf-reg-near,liu2017,gff,pyramid,pyramid+eq"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--n", type=int, default=100, help="validation photos per variant (first N)")
    ap.add_argument("--methods", default=METHODS, help=f"comma-separated (default {METHODS})")
    ap.add_argument("--variants", default="gaussian,realistic")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--csv", default=None, help="write the table here too")
    args = ap.parse_args(argv)

    import torch
    from skimage.metrics import structural_similarity

    from mfif.pipeline import equalize_exposure
    from mfif.synthetic import oracle, validation_set
    from mfif.train.hourglass import psnr

    torch.set_num_threads(args.threads)
    folder = os.path.join(args.data, "train", "bsds500", "val")
    methods = {name: method(name) for name in split_specs(args.methods)}
    rows = []
    for variant in args.variants.split(","):
        pairs = validation_set(folder, variant, n=args.n)
        scores: dict[str, list[tuple[float, float, float]]] = {}
        for p in pairs:
            t = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # noqa: E731
            ta, tb = t(p.a), t(p.b)
            outs = {}
            for name, m in methods.items():
                start = time.perf_counter()
                fused = fuse(name, m, ta, tb)
                outs[name] = (fused[0].permute(1, 2, 0).numpy(), time.perf_counter() - start)
            f = p.focus[..., None]
            o = oracle(p.a, p.b, p.truth)[..., None]
            outs["truth map"] = (f * p.a + (1 - f) * p.b, 0.0)
            outs["oracle"] = (o * p.a + (1 - o) * p.b, 0.0)
            ea, eb = (x[0].permute(1, 2, 0).numpy() for x in equalize_exposure(ta, tb))
            o = oracle(ea, eb, p.truth)[..., None]
            outs["oracle, matched exposure"] = (o * ea + (1 - o) * eb, 0.0)
            for name, (img, sec) in outs.items():
                ssim = structural_similarity(img, p.truth, data_range=1.0, channel_axis=-1)
                scores.setdefault(name, []).append((psnr(img, p.truth), float(ssim), sec))
        for name, vals in scores.items():
            v = np.array(vals)
            rows.append({"variant": variant, "method": name, "pairs": len(vals), "psnr": round(v[:, 0].mean(), 3),
                         "ssim": round(v[:, 1].mean(), 4), "seconds": round(v[:, 2].mean(), 4)})
            print(f"{variant:10s} {name:12s} PSNR {rows[-1]['psnr']:7.3f} SSIM {rows[-1]['ssim']:.4f} "
                  f"{rows[-1]['seconds']:.3f} s", flush=True)
    print("\n| variant | method | pairs | PSNR (dB) | SSIM | s / pair |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['method']} | {r['pairs']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
              f"{r['seconds']:.3f} |")
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    print("\n| method | " + " | ".join(f"{v} PSNR | {v} SSIM" for v in variants) + " |")
    print("|---|" + "---|---|" * len(variants))
    by = {(r["method"], r["variant"]): r for r in rows}
    for name in dict.fromkeys(r["method"] for r in rows):
        cells = [f"{by[name, v]['psnr']:.2f} | {by[name, v]['ssim']:.4f}" if (name, v) in by else " | "
                 for v in variants]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.csv:
        from mfif.io import atomic_output

        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        with atomic_output(args.csv, ".csv") as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
