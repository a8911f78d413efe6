#!/usr/bin/env python
"""Make the small sample pair the repository ships, and the README's before/after figure.

The pair is scikit-image's ``coffee`` photo (public domain, bundled with
scikit-image) refocused by hand: ``samples/coffee-near.jpg`` keeps the cup and
saucer sharp and blurs the table, ``samples/coffee-far.jpg`` the opposite,
with a feathered boundary as a lens would give. The sharp original is the
truth, so ``--figures`` can print the PSNR of the fused image against it.

Usage:
    python scripts/make_samples.py              # samples/coffee-{near,far}.jpg
    python scripts/make_samples.py --figures    # also fuse them and write docs/sample_*.png
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SIGMA = 2.5  # defocus blur of the out-of-focus parts, in pixels


def make_pair():
    from skimage import data

    sharp = data.coffee().astype(np.float32) / 255  # 400x600 RGB
    h, w = sharp.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (278, 228), (205, 158), -8, 0, 360, 1.0, -1)  # the cup on its saucer
    mask = cv2.GaussianBlur(mask, (0, 0), 3.0)[..., None]  # the lens's soft transition
    blurred = cv2.GaussianBlur(sharp, (0, 0), SIGMA, borderType=cv2.BORDER_REFLECT)
    near = mask * sharp + (1 - mask) * blurred
    far = mask * blurred + (1 - mask) * sharp
    return near, far, sharp, mask[..., 0] > 0.5


def to_u8(x):
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figures", action="store_true", help="also fuse the pair and write docs/sample_*.png")
    p.add_argument("--method", default=None, help="method for the figure (default: mfif fuse's default)")
    args = p.parse_args(argv)
    near, far, sharp, mask = make_pair()
    os.makedirs(os.path.join(ROOT, "samples"), exist_ok=True)
    paths = [os.path.join(ROOT, "samples", f"coffee-{n}.jpg") for n in ("near", "far")]
    for path, img in zip(paths, (near, far)):
        cv2.imwrite(path, to_u8(img)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) // 1024} KB)")
    if not args.figures:
        return 0

    import mfif

    r = mfif.fuse(paths, method=args.method, device="cpu")

    def psnr(x):
        return 10 * np.log10(255.0**2 / np.mean((x.astype(np.float64) - to_u8(sharp)) ** 2))

    srcs = [cv2.imread(q)[..., ::-1] for q in paths]
    print(f"{r.summary()}; PSNR against the sharp photo: fused {psnr(r.fused):.2f} dB, "
          f"near {psnr(srcs[0]):.2f} dB, far {psnr(srcs[1]):.2f} dB; "
          f"decision agrees with the refocus mask on {100 * (r.decision == mask).mean():.1f} %")
    # before/after strip: near | far | fused | decision, half size, with a zoom on the cup's rim
    panels = [srcs[0], srcs[1], r.fused, np.repeat(r.depth_image()[..., None], 3, 2)]
    half = [cv2.resize(x, (300, 200), interpolation=cv2.INTER_AREA) for x in panels]
    zoom = [cv2.resize(x[210:310, 400:550], (300, 200), interpolation=cv2.INTER_NEAREST) for x in panels]
    sep = np.full((200, 4, 3), 255, np.uint8)
    rows = [np.concatenate(sum([[im, sep] for im in row], [])[:-1], 1) for row in (half, zoom)]
    strip = np.concatenate([rows[0], np.full((4, rows[0].shape[1], 3), 255, np.uint8), rows[1]], 0)
    os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
    out = os.path.join(ROOT, "docs", "sample_before_after.png")
    cv2.imwrite(out, strip[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out) // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
