"""HF-Seg / HF-Reg (paper 002) on the CPU beside liu2017 and gff, in the same run.

Per size (520x520, 1920x1080) and thread count (1, 2): the hourglass network's forward pass alone
("forward", the shipped weights on a colour pair) and the whole fusion of a colour pair through the
method ("fuse": input checks, the network, eq. 2 / the clip) for hf-seg, hf-reg, liu2017 and gff.
The acceptance figures: hf-seg's fuse at 520x520 against liu2017's fuse, and against its own forward.

    PYTHONPATH=python pytest benchmarks/bench_hourglass.py --benchmark-json=bench_hourglass.json
"""
import pytest
import torch

import mfif.methods as M
from mfif.models.hourglass import load_hourglass

from conftest import run

SIZES = {"520x520": (520, 520), "1920x1080": (1080, 1920)}


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def hw_size(request):
    return request.param, SIZES[request.param]


def _pair(hw):
    gen = torch.Generator().manual_seed(0)
    return torch.rand((1, 3) + hw, generator=gen), torch.rand((1, 3) + hw, generator=gen)


@pytest.mark.parametrize("kind", ["hf-seg", "hf-reg"])
def test_hourglass_forward(benchmark, hw_size, threads, kind):
    size_name, hw = hw_size
    net = load_hourglass(kind)
    a, b = _pair(hw)

    def forward():
        with torch.no_grad():
            return net._run(a, b)

    run(benchmark, f"{kind} forward", size_name, threads, "mfif", forward, rounds=5 if hw[0] < 1000 else 3)


@pytest.mark.parametrize("method", ["hf-seg", "hf-seg-pp", "hf-reg", "liu2017", "gff"])
def test_fuse_pair(benchmark, hw_size, threads, method):
    size_name, hw = hw_size
    m = M.get(method)
    a, b = _pair(hw)
    slow = method == "liu2017" or hw[0] > 1000
    run(benchmark, "fuse pair", size_name, threads, method, m.fuse_pair, a, b, rounds=3 if slow else 5)
