"""The Liu et al. 2017 network, its shipped weights and the liu2017 fusion method."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mfif
import mfif.methods as M
from mfif import ops, synthetic
from mfif.methods.liu2017 import METHOD, dense_scores
from mfif.models import LiuNet, fold_head, load_liu2017
from mfif.models.liu2017 import WEIGHTS_PATH


def to_tensor(img):
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def psnr(x, truth):
    mse = float(((x.double() - truth.double()) ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-20))


@pytest.fixture(scope="module")
def random_net():
    torch.manual_seed(0)
    return LiuNet().eval()


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_branch_matches_the_paper_order(channels_last):
    """The branch pools before conv2's ReLU, in place: the paper's conv-ReLU-pool values and gradients exactly."""
    torch.manual_seed(1)
    branch = LiuNet().branch
    x = torch.rand(3, 1, 37, 41)
    if channels_last:
        branch, x = branch.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def paper_order(t):
        t = F.relu(branch.conv2(F.relu(branch.conv1(t))))
        return F.relu(branch.conv3(F.max_pool2d(t, 2, stride=2, ceil_mode=True)))

    params = [x, *branch.parameters()]
    got, want = branch(x), paper_order(x)
    assert torch.equal(got, want)
    for g, w in zip(torch.autograd.grad((got * got).sum(), params), torch.autograd.grad((want * want).sum(), params)):
        assert torch.equal(g, w)


def test_cpu_inference_uses_a_frozen_branch_that_follows_the_weights():
    """No-grad CPU features come from a frozen TorchScript branch: the eager values, rebuilt on new weights.

    (Equal to the bit on the development machine; compared to float rounding so that another CPU's oneDNN
    kernels cannot fail it.)"""
    from mfif.models.liu2017 import _FROZEN_BRANCHES

    torch.manual_seed(2)
    net, other = LiuNet().eval(), LiuNet().eval()
    a, b = torch.rand(2, 1, 40, 37), torch.rand(2, 1, 40, 37)
    with torch.no_grad():
        got = net.features(a, b)
        assert _FROZEN_BRANCHES.get(net.branch, (None, None))[1] is not None, "the TorchScript path was not taken"
        for g, w in zip(got, _eager_features(net, a, b)):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
        net.load_state_dict(other.state_dict())  # an in-place copy: same storage, new version counter
        for g, w in zip(net.features(a, b), _eager_features(other, a, b)):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_large_batches_take_the_eager_branch(monkeypatch):
    from mfif.models import liu2017 as L

    monkeypatch.setattr(L, "FROZEN_MAX_PIXELS", 2 * 40 * 37 - 1)
    net = LiuNet().eval()
    with torch.no_grad():
        net.features(torch.rand(1, 1, 40, 37), torch.rand(1, 1, 40, 37))
    assert net.branch not in L._FROZEN_BRANCHES


def test_dense_scores_reports_each_tile(random_net):
    from mfif.methods.liu2017 import score_progress, score_tiles

    calls = []
    token = score_progress.set(lambda done, total: calls.append((done, total)))
    try:
        with torch.no_grad():
            dense_scores(random_net, torch.rand(1, 1, 37, 40), torch.rand(1, 1, 37, 40), tile=5)
    finally:
        score_progress.reset(token)
    assert score_tiles(37, 40, tile=5) == 9  # 12 x 13 scores in 5 x 5 tiles
    assert calls == [(k, 9) for k in range(1, 10)]


def _eager_features(net, a, b):
    """The eager branch's features (grad enabled takes the eager path)."""
    with torch.enable_grad():
        fa, fb = net.features(a, b)
    return fa.detach(), fb.detach()


@pytest.mark.parametrize("size", [(16, 16), (17, 19), (31, 30), (33, 47), (40, 17)], ids=str)
def test_score_map_shape(random_net, size):
    H, W = size
    a, b = torch.rand(2, 1, H, W), torch.rand(2, 1, H, W)
    expected = (2, math.ceil(H / 2) - 7, math.ceil(W / 2) - 7)
    with torch.no_grad():
        assert random_net(a, b).shape == (2, 2) + expected[1:]
        assert dense_scores(random_net, a, b).shape == expected
        assert random_net.scores(a, b, size=(H, W)).shape == (2, H, W)


def test_scores_are_the_softmax_of_the_logits(random_net):
    a, b = torch.rand(1, 1, 41, 36), torch.rand(1, 1, 41, 36)
    with torch.no_grad():
        want = torch.softmax(random_net(a, b), 1)[:, 0]
    torch.testing.assert_close(random_net.scores(a, b), want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(random_net.scores(a, b, size=(41, 36)), ops.patch_mean(want, (41, 36)),
                               rtol=1e-4, atol=1e-5)


def test_tiling_does_not_change_the_scores(random_net):
    """Tiles with a halo of real pixels give the scores of the whole image."""
    a, b = torch.rand(1, 1, 51, 45), torch.rand(1, 1, 51, 45)
    whole = dense_scores(random_net, a, b, tile=1000)
    for tile in (4, 9):
        torch.testing.assert_close(dense_scores(random_net, a, b, tile=tile), whole, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("biases", [(True, True), (False, False), (True, False)], ids=["both", "none", "fc1"])
def test_fold_equals_the_two_layer_head(biases):
    """fc2(fc1(x)) of the paper's head (8x8 conv 512->256, 1x1 conv 256->2, nothing between) = one 8x8 conv."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 512, 9, 10, generator=gen, dtype=torch.float64)
    w1 = torch.randn(256, 512, 8, 8, generator=gen, dtype=torch.float64) * 0.01
    w2 = torch.randn(2, 256, 1, 1, generator=gen, dtype=torch.float64) * 0.1
    b1 = torch.randn(256, generator=gen, dtype=torch.float64) if biases[0] else None
    b2 = torch.randn(2, generator=gen, dtype=torch.float64) if biases[1] else None
    want = F.conv2d(F.conv2d(x, w1, b1), w2, b2)
    w, b = fold_head(w1, b1, w2, b2)
    assert w.shape == (2, 512, 8, 8) and b.shape == (2,)
    torch.testing.assert_close(F.conv2d(x, w, b), want, rtol=1e-10, atol=1e-10)
    w_flat, b_flat = fold_head(w1, b1, w2[:, :, 0, 0], b2)  # fc2 as a matrix
    torch.testing.assert_close(w_flat, w)
    with pytest.raises(ValueError, match="w2 has 128 inputs but w1 has 256 outputs"):
        fold_head(w1, b1, w2[:, :128], b2)


def test_shipped_weights_load():
    assert os.path.isfile(WEIGHTS_PATH)
    assert os.path.getsize(WEIGHTS_PATH) < 3_000_000  # a few MB at most
    meta = torch.load(WEIGHTS_PATH, weights_only=True)["meta"]
    assert meta["script"] == "scripts/train_liu2017.py"
    net = load_liu2017()
    assert net is load_liu2017("cpu")  # cached
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == 435202
    assert net.head.weight.shape == (2, 512, 8, 8)
    assert load_liu2017(dtype=torch.float64).head.weight.dtype == torch.float64
    assert net.head.weight.dtype == torch.float32  # the float64 copy did not touch the float32 one
    with pytest.raises(FileNotFoundError, match="weights are missing"):
        load_liu2017(path="/nonexistent/liu.pt")


def test_registry():
    assert "liu2017" in M.available()
    m = M.get("liu2017")  # a fresh copy of the module's METHOD, never the shared object
    assert m is not METHOD and isinstance(m, type(METHOD)) and m.name == METHOD.name == "liu2017"


@pytest.fixture(scope="module")
def synthetic_pair():
    a, b, truth, mask = synthetic.multifocus_pair(192, 192, seed=3)
    return to_tensor(a), to_tensor(b), to_tensor(truth), torch.from_numpy(mask)


def test_synthetic_pair_is_fused_to_the_truth(synthetic_pair):
    a, b, truth, mask = synthetic_pair
    res = METHOD.fuse_pair(a, b)
    assert res.fused.shape == a.shape and res.weights.shape == (1, 192, 192) and res.decision.dtype == torch.bool
    # measured with the shipped weights: 30.8 dB (sources 18.7 and 18.1 dB; the errors are the
    # method's transition zones along the focus boundary); decision right on 95.9% of pixels (both orders)
    assert psnr(res.fused, truth) > 30.3
    assert psnr(a, truth) < 19 and psnr(b, truth) < 19
    assert (res.decision[0] == mask).float().mean() > 0.95
    # swapping the sources swaps the decision
    swapped = METHOD.fuse_pair(b, a)
    assert psnr(swapped.fused, truth) > 30.3
    assert (swapped.decision[0] == ~mask).float().mean() > 0.95


def test_grey_batch_and_dtype(synthetic_pair):
    a, b, truth, _ = synthetic_pair
    ga, gb = a[..., :96, :112].mean(1, keepdim=True), b[..., :96, :112].mean(1, keepdim=True)
    one, other = METHOD.fuse_pair(ga, gb), METHOD.fuse_pair(gb, ga)
    batch = METHOD.fuse_pair(torch.cat([ga, gb]), torch.cat([gb, ga]))
    assert batch.fused.shape == (2, 1, 96, 112)
    for k, single in enumerate((one, other)):
        torch.testing.assert_close(batch.fused[k:k + 1], single.fused, rtol=1e-4, atol=1e-4)
        assert torch.equal(batch.decision[k], single.decision[0])
    res64 = METHOD.fuse_pair(ga.double(), gb.double())
    assert res64.fused.dtype == torch.float64 and res64.weights.dtype == torch.float64
    # the focus map in float64 may put a pixel at 0.5 on the other side of the threshold
    assert (res64.decision == one.decision).float().mean() > 0.999
    assert (res64.fused.float() - one.fused).abs().mean() < 1e-4


def test_bad_input():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="same shape"):
        METHOD.fuse_pair(x, torch.rand(1, 3, 32, 31))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        METHOD.fuse_pair(torch.rand(1, 2, 32, 32), torch.rand(1, 2, 32, 32))
    with pytest.raises(TypeError, match="float tensor"):
        METHOD.fuse_pair((x * 255).byte(), (x * 255).byte())
    with pytest.raises(ValueError, match="at least 16x16"):
        METHOD.fuse_pair(torch.rand(1, 3, 15, 40), torch.rand(1, 3, 15, 40))
    with pytest.raises(ValueError, match="put both on one device"):
        METHOD.fuse_pair(x, x.to("meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.skipif(not mfif.cuda_kernels_available(), reason="this build of mfif has no CUDA kernels")
def test_cuda_matches_cpu(synthetic_pair):
    """The whole method on CUDA (network, score_map and post-processing kernels) against the CPU."""
    a, b, _, _ = synthetic_pair
    cpu = METHOD.fuse_pair(a, b)
    gpu = METHOD.fuse_pair(a.cuda(), b.cuda())
    assert gpu.fused.device.type == "cuda"
    assert (gpu.decision.cpu() == cpu.decision).float().mean() > 0.999
    torch.testing.assert_close(gpu.fused.cpu(), cpu.fused, rtol=1e-3, atol=1e-3)
