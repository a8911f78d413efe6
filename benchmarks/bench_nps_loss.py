"""nps_loss forward + backward (alpha 6, batch mean) against autograd through the reference.

Implementations: "mfif"; "reference" = autograd through mfif.reference.nps_loss;
"compiled" = torch.compile of the reference (compiled and warmed up before timing).
Shape: 8 x 3 x 256 x 256 (not the image sizes of the other benchmarks).
"""
import pytest
import torch

from mfif import ops, reference as ref

from conftest import run

SHAPE = (8, 3, 256, 256)
ALPHA = 6.0
_compiled = {}


def _step(loss_fn, pred, target):
    pred.grad = None
    loss_fn(pred, target, ALPHA).backward()


@pytest.mark.parametrize("impl", ["mfif", "reference", "compiled"])
def test_nps_loss(benchmark, threads, impl):
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(SHAPE, generator=gen).requires_grad_()
    target = torch.rand(SHAPE, generator=gen)
    if impl == "mfif":
        fn = ops.nps_loss
    elif impl == "reference":
        fn = ref.nps_loss
    else:
        if "fn" not in _compiled:
            _compiled["fn"] = torch.compile(ref.nps_loss)
        fn = _compiled["fn"]
        for _ in range(3):  # compile forward and backward, then warm up
            _step(fn, pred, target)
    run(benchmark, "nps_loss fwd+bwd", "8x3x256x256", threads, impl, _step, fn, pred, target)
