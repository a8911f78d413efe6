"""The classic decision-map methods against GFF and the Liu 2017 CNN: one colour pair, ``fuse_pair``.

The pair is Lytro pair 01 when ../shared/data is there (real focus: the share
of pixels dsift's matching step visits depends on the content), else a
generated multi-focus pair (mfif.synthetic) of the same size. Decoding is not
counted. Issue 18 asks quadtree and dsift to fuse a 520x520 colour pair in at
most 0.3 s on the 2-core development CPU.
"""
import os

import numpy as np
import pytest
import torch

from mfif import io, synthetic
from mfif.methods import get

from conftest import run

LYTRO = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "lytro")


def _pair(hw):
    paths = [os.path.join(LYTRO, f"lytro-01-{s}.jpg") for s in "AB"]
    if hw == (520, 520) and all(os.path.isfile(p) for p in paths):
        arrays = [io.read_image(p).astype(np.float32) / 255 for p in paths]
    else:
        a, b, _, _ = synthetic.multifocus_pair(*hw, seed=0)
        arrays = [np.floor(x * 255 + 0.5) / 255 for x in (a, b)]
    return [torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float() for x in arrays]


@pytest.mark.parametrize("impl", ["quadtree", "dsift", "gff", "liu2017"])
def test_classic_pair(benchmark, size, threads, impl):
    size_name, hw = size
    if size_name != "520x520" and impl == "liu2017":
        pytest.skip("liu2017 has its own benchmark at large sizes (bench_liu2017.py)")
    a, b = _pair(hw)
    method = get(impl)

    def fuse():
        with torch.no_grad():
            return method.fuse_pair(a, b)

    run(benchmark, "fuse_pair colour", size_name, threads, impl, fuse, rounds=3 if size_name == "520x520" else 1)
