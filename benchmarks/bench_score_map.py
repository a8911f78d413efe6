"""score_map (Liu et al.'s folded head + softmax + focus map) against PyTorch compositions.

Inputs are the two branches' features of an H x W pair, [1, 256, ceil(H/2), ceil(W/2)]
each (what LiuNet.features gives), and the folded head [2, 512, 8, 8] + bias.
Implementations of the focus map [1, H, W]:
"mfif" = mfif.ops.score_map(..., size=(H, W)) (one op);
"torch" = F.conv2d(cat) + softmax + mfif.ops.patch_mean (the head in PyTorch);
"reference" = mfif.reference.score_map, i.e. F.conv2d(cat) + softmax + the
F.fold patch mean (all PyTorch).
The 3840x2160 case needs about 9 GB for the features and PyTorch's concatenation.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mfif import ops, reference as ref

from conftest import run


def torch_head(fa, fb, w, b, size):
    probs = torch.softmax(F.conv2d(torch.cat([fa, fb], 1), w, b), dim=1)[:, 0]
    return ops.patch_mean(probs, size)


@pytest.fixture(scope="module")
def features():
    cache = {}

    def get(height, width):
        if (height, width) not in cache:
            cache.clear()
            gen = torch.Generator().manual_seed(0)
            shape = (1, 256, math.ceil(height / 2), math.ceil(width / 2))
            fa = torch.rand(shape, generator=gen)
            fb = torch.rand(shape, generator=gen)
            w = torch.randn(2, 512, 8, 8, generator=gen) * 0.01
            b = torch.randn(2, generator=gen)
            cache[(height, width)] = (fa, fb, w, b)
        return cache[(height, width)]

    return get


@pytest.mark.parametrize("impl", ["mfif", "torch", "reference"])
def test_score_map(benchmark, size, threads, impl, features):
    name, (height, width) = size
    fa, fb, w, b = features(height, width)
    rounds = None if name == "520x520" else 3
    if impl == "mfif":
        expected = torch_head(fa, fb, w, b, (height, width)) if name == "520x520" else None
        out = run(benchmark, "score_map focus", name, threads, impl, ops.score_map, fa, fb, w, b,
                  size=(height, width), rounds=rounds)
        if expected is not None:
            torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    elif impl == "torch":
        run(benchmark, "score_map focus", name, threads, impl, torch_head, fa, fb, w, b, (height, width),
            rounds=rounds)
    else:
        run(benchmark, "score_map focus", name, threads, impl, ref.score_map, fa, fb, w, b,
            size=(height, width), rounds=3)
