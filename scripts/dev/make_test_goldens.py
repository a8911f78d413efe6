"""Write the golden files of tests/test_goldens.py (tests/data/goldens/) from the current code.

The goldens pin behaviour that no property test fixes: the defaults of the
liu2017 method (its decision map and soft weights on a generated pair with
small regions) and the value of every metric on small generated images, so
that a changed constant fails the suite without ../shared/data. Run it only
after a deliberate change of that behaviour, with the metric reference test
(tests/test_metrics.py::test_matches_survey_reference) passing on the shared
data, and say why in the commit:

    PYTHONPATH=python python scripts/dev/make_test_goldens.py
"""
from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
OUT = os.path.join(HERE, "..", "..", "tests", "data", "goldens")

from mfif import io, synthetic  # noqa: E402


def liu_pair(size: int = 128, square: int = 18, seed: int = 0):
    """A pair whose focus mask has three small squares (about 0.2 % of the image each) on the far side,
    so that the small-region threshold (area_ratio) decides them."""
    truth = synthetic.dead_leaves(size, size, seed=seed).astype(np.float32)
    blur = cv2.GaussianBlur(truth, (0, 0), 3)
    mask = np.zeros((size, size), bool)
    mask[:, : size // 2] = True
    for y, x in [(20, 80), (60, 100), (100, 76)]:
        mask[y:y + square, x:x + square] = True
    m = mask[..., None]
    return io.from_float(np.where(m, truth, blur)), io.from_float(np.where(m, blur, truth))


def metric_images(size: int = 64, seed: int = 11):
    """Grey uint8 sources, a fused image (the sharp truth with a seam of errors) and the truth,
    all with one saturated block."""
    a, b, truth, mask = synthetic.multifocus_pair(size, size, seed=seed)
    grey = lambda x: io.from_float(x @ np.array([0.299, 0.587, 0.114], np.float32))  # noqa: E731
    fused = np.where(mask[..., None], a, b)
    fused[:, size // 2 - 2:size // 2 + 2] = 0.5 * (a + b)[:, size // 2 - 2:size // 2 + 2]
    out = [grey(x) for x in (a, b, fused, truth)]
    for x in out:  # a flat (saturated) block, where the metrics' tiny stabilising constants decide
        x[4:20, 4:20] = 255
    return out


def main():
    import torch

    from mfif import metrics as M
    from mfif.methods.liu2017 import Liu2017

    os.makedirs(OUT, exist_ok=True)
    a, b = liu_pair()
    io.write_image(os.path.join(OUT, "liu_a.png"), a)
    io.write_image(os.path.join(OUT, "liu_b.png"), b)
    t = lambda x: torch.from_numpy(io.to_float(x)).permute(2, 0, 1)[None]  # noqa: E731
    r = Liu2017().fuse_pair(t(a), t(b))
    io.write_image(os.path.join(OUT, "liu_decision.png"), r.decision[0].numpy().astype(np.uint8) * 255)
    w = r.weights.reshape(r.weights.shape[-2:]).numpy()
    io.write_image(os.path.join(OUT, "liu_weights.png"), io.from_float(w, np.uint16))

    imgs = metric_images()
    for name, img in zip(("metric_a", "metric_b", "metric_fused", "metric_truth"), imgs):
        io.write_image(os.path.join(OUT, f"{name}.png"), img)
    values = M.evaluate(*imgs[:3], metrics=M.available(), truth=imgs[3])
    tg = [torch.from_numpy(x).double() for x in imgs[:3]]
    values["QG_toolbox"] = float(M.qg(*tg, constants="toolbox"))
    with open(os.path.join(OUT, "metrics.json"), "w") as f:
        json.dump({k: float(v) for k, v in values.items()}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT}: liu2017 decision ({int(r.decision.sum())} px), {len(values)} metric values")


if __name__ == "__main__":
    main()
