"""The Liu 2017 network's branches on the CPU: the frozen TorchScript copy that inference uses against the
eager PyTorch branch (the pure-PyTorch baseline; no other library runs this network).

Both compute the features of a grey pair ``[2, 1, H, W]`` with the shipped weights; the score head
(``score_map``) has its own benchmark.
"""
import pytest
import torch

from mfif.models import liu2017 as L

from conftest import run


@pytest.mark.parametrize("impl", ["mfif", "eager"])  # mfif: the frozen copy inference uses
def test_liu_branch(benchmark, size, threads, impl):
    size_name, hw = size
    net = L.load_liu2017()
    a, b = torch.rand((1, 1) + hw), torch.rand((1, 1) + hw)
    if impl == "mfif":
        frozen = L._frozen_branch(net.branch)
        if frozen is None:
            pytest.skip("TorchScript is unavailable in this torch")
        branch = frozen
    else:
        branch = net.branch
    x = torch.cat([a, b])

    def features():
        with torch.no_grad():
            return branch(x)

    run(benchmark, "liu2017 branch", size_name, threads, impl, features,
        rounds=1 if size_name == "3840x2160" else 3)
