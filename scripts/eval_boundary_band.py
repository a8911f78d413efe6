#!/usr/bin/env python
"""The error of fusion methods near the true focus border, on the fixed synthetic validation set.

For each variant of ``mfif.synthetic.validation_set`` (BSDS500 val, the first ``--n`` photos; the
paper's Gaussian recipe and the realistic layered disc defocus) and each method: the mean absolute
error (in 8-bit grey levels, over the three channels) and the PSNR of the fused image against the
all-in-focus truth restricted to the pixels within ``--radius`` pixels (Euclidean) of the true focus
border (the border of the generator's focus map: for the realistic variant its layer assignment,
corrected by the oracle where one source is clearly the better one), plus the whole image's PSNR
and SSIM. Each figure is the mean over the photos. "truth map" fuses by the generator's focus map.

    PYTHONPATH=python python scripts/eval_boundary_band.py [--n 20] [--radius 16]
        [--methods boundary-aware,boundary-aware:postprocess=true,liu2017,hf-seg,hf-seg-pp] [--threads 1]

(method names as in scripts/method_spec.py)

``boundary-aware:postprocess=true`` binarises the merged map, removes small regions and applies the
guided filter; ``boundary-aware:symmetric=true`` averages stage two over both source orders.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from method_spec import fuse, method, split_specs

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
METHODS = "boundary-aware,boundary-aware:postprocess=true,liu2017,hf-seg,hf-seg-pp"


def border_band(focus: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` (Euclidean) of a pixel of the other class of ``focus >= 0.5``: bool [H, W]."""
    import cv2

    f = (focus >= 0.5).astype(np.uint8)
    if f.min() == f.max():
        return np.zeros(f.shape, bool)
    d_in = cv2.distanceTransform(f, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)       # 1-pixels: distance to a 0
    d_out = cv2.distanceTransform(1 - f, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # 0-pixels: distance to a 1
    return np.where(f == 1, d_in, d_out) <= radius


def scores(img: np.ndarray, truth: np.ndarray, band: np.ndarray) -> tuple[float, float, float, float]:
    from skimage.metrics import structural_similarity

    from mfif.train.hourglass import psnr

    err = img.astype(np.float64) - truth.astype(np.float64)
    eb = err[band]
    mae = float(np.abs(eb).mean()) * 255 if eb.size else float("nan")
    mse = float((eb**2).mean()) if eb.size else float("nan")
    band_psnr = 100.0 if mse <= 1e-10 else 10 * np.log10(1.0 / mse)
    ssim = float(structural_similarity(img, truth, data_range=1.0, channel_axis=-1))
    return mae, band_psnr, psnr(img, truth), ssim


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--n", type=int, default=20, help="validation photos per variant (first N)")
    ap.add_argument("--radius", type=float, default=16.0, help="half-width of the border band, pixels")
    ap.add_argument("--methods", default=METHODS, help=f"comma-separated (default {METHODS})")
    ap.add_argument("--variants", default="gaussian,realistic")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from mfif.synthetic import validation_set

    torch.set_num_threads(args.threads)
    folder = os.path.join(args.data, "train", "bsds500", "val")
    if not os.path.isdir(folder):
        print(f"error: {folder} not found; pass --data pointing at the shared data folder", file=sys.stderr)
        return 2
    names = split_specs(args.methods)
    methods = {n: method(n) for n in names}
    rows = []
    for variant in args.variants.split(","):
        pairs = validation_set(folder, variant, n=args.n)
        res: dict[str, list] = {}
        for p in pairs:
            band = border_band(p.focus, args.radius)
            t = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # noqa: E731
            ta, tb = t(p.a), t(p.b)
            outs = {}
            for name, m in methods.items():
                start = time.perf_counter()
                fused = fuse(name, m, ta, tb)
                outs[name] = (fused[0].permute(1, 2, 0).numpy(), time.perf_counter() - start)
            f = p.focus[..., None]
            outs["truth map"] = (f * p.a + (1 - f) * p.b, 0.0)
            for name, (img, sec) in outs.items():
                res.setdefault(name, []).append((*scores(img, p.truth, band), sec, band.mean()))
        for name, vals in res.items():
            v = np.array(vals)
            rows.append((variant, name, len(vals), *np.nanmean(v, 0)))
            r = rows[-1]
            print(f"{variant:10s} {name:18s} band MAE {r[3]:7.4f} band PSNR {r[4]:7.3f} PSNR {r[5]:6.2f} "
                  f"SSIM {r[6]:.4f} {r[7]:.2f} s", flush=True)
    print(f"\nband: pixels within {args.radius:g} px of the true focus border (mean share of the image: "
          + ", ".join(f"{v} {np.mean([r[8] for r in rows if r[0] == v]):.1%}" for v in args.variants.split(","))
          + ")\n")
    print("| variant | method | pairs | band MAE (grey levels) | band PSNR (dB) | PSNR (dB) | SSIM | s / pair |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.3f} | {r[5]:.2f} | {r[6]:.4f} | {r[7]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
