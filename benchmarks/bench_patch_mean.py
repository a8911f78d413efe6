"""patch_mean (Liu et al.'s focus map, patch 16, stride 2) against F.fold and OpenCV.

Scores have the size of Liu's network output, h = ceil(H/2) - 7, as two-channel
logits [1, 2, h, w] (softmax fused) or probabilities [1, h, w].
Implementations: "mfif"; "reference" = mfif.reference.patch_mean, which is
F.fold of the expanded scores / F.fold of ones (so there is no separate "fold");
"opencv" = the same focus map composed from OpenCV and numpy: un-normalised
8 x 8 box sums over the score grid (cv2.boxFilter, zero border), divided by the
covering counts, then a nearest 2x upsampling (cv2.resize) cropped to H x W.
"""
import math

import cv2
import numpy as np
import pytest
import torch

from mfif import ops, reference as ref

from conftest import run

PATCH, STRIDE = 16, 2
L = PATCH // STRIDE  # scores per covering range


def _slow(size_name):
    # F.fold materialises patch^2 copies of the scores: seconds at the large sizes
    return 3 if size_name != "520x520" else None


def _counts(n, full):
    """Number of windows covering each stride block (cut at n scores)."""
    k = np.arange((full + STRIDE - 1) // STRIDE)
    return (np.minimum(k, n - 1) - np.maximum(k - L + 1, 0) + 1).astype(np.float32)


def opencv_patch_mean(scores, size):
    """Box-and-upsample composition in OpenCV/numpy; scores: [2, h, w] logits or [h, w] probabilities."""
    height, width = size
    if scores.ndim == 3:
        probs = 1.0 / (1.0 + np.exp(scores[1] - scores[0]))
    else:
        probs = scores
    h, w = probs.shape
    kh, kw = (height + 1) // 2, (width + 1) // 2
    grid = np.zeros((kh, kw), np.float32)
    grid[:h, :w] = probs
    sums = cv2.boxFilter(grid, -1, (L, L), anchor=(L - 1, L - 1), normalize=False, borderType=cv2.BORDER_CONSTANT)
    sums /= np.outer(_counts(h, height), _counts(w, width))
    return cv2.resize(sums, (2 * kw, 2 * kh), interpolation=cv2.INTER_NEAREST)[:height, :width]


@pytest.mark.parametrize("impl", ["mfif", "reference", "opencv"])
@pytest.mark.parametrize("kind", ["logits", "probs"])
def test_patch_mean(benchmark, size, threads, kind, impl):
    name, (height, width) = size
    h, w = math.ceil(height / 2) - 7, math.ceil(width / 2) - 7
    gen = torch.Generator().manual_seed(0)
    if kind == "logits":
        scores = torch.randn(1, 2, h, w, generator=gen) * 4
    else:
        scores = torch.rand(1, h, w, generator=gen)
    op = f"patch_mean {kind}"
    if impl == "mfif":
        run(benchmark, op, name, threads, impl, ops.patch_mean, scores, (height, width), PATCH, STRIDE)
    elif impl == "reference":
        run(benchmark, op, name, threads, impl, ref.patch_mean, scores, (height, width), PATCH, STRIDE,
            rounds=_slow(name))
    else:
        sn = scores[0].numpy()
        expected = ops.patch_mean(scores, (height, width), PATCH, STRIDE)[0].numpy()
        np.testing.assert_allclose(opencv_patch_mean(sn, (height, width)), expected, rtol=1e-4, atol=1e-5)
        run(benchmark, op, name, threads, impl, opencv_patch_mean, sn, (height, width))
