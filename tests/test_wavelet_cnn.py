"""wavelet-cnn (paper 001's wavelet-domain CNN): the Haar filter bank against PyWavelets, the
network's shapes at any size, its symmetry in the sources, one training step and a short run of
the shared training loop, and the method with shipped or missing weights."""
import os

import cv2
import numpy as np
import pytest
import pywt
import torch

import mfif
from mfif import synthetic
from mfif.methods.wavelet_cnn import WaveletCNNMethod
from mfif.models.wavelet_cnn import WaveletCNN, haar_forward, haar_inverse, init_weights
from mfif.train import config, get_task, run


@pytest.mark.parametrize("shape", [(8, 6), (7, 9), (1, 1), (2, 5), (33, 64)])
def test_haar_matches_pywt(shape):
    x = torch.rand(2, 3, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bands = haar_forward(x)
    assert bands.shape == (2, 3, 4, (shape[0] + 1) // 2, (shape[1] + 1) // 2)
    for i in range(2):
        for c in range(3):
            cA, (cH, cV, cD) = pywt.dwt2(x[i, c].numpy(), "haar", mode="symmetric")
            for k, ref in enumerate((cA, cH, cV, cD)):
                np.testing.assert_allclose(bands[i, c, k].numpy(), ref, atol=1e-14)
    torch.testing.assert_close(haar_inverse(bands, *shape), x, atol=1e-14, rtol=0)


def test_haar_float32_and_gradients():
    x = torch.rand(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: haar_forward(t), (x,))
    bands = torch.rand(1, 1, 4, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: haar_inverse(t, 6, 7), (bands,))
    y = torch.rand(1, 3, 15, 20)
    torch.testing.assert_close(haar_inverse(haar_forward(y), 15, 20), y, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape,channels", [((1, 1), 3), ((5, 3), 1), ((37, 50), 3), ((64, 64), 1)])
def test_shapes_any_size_and_symmetry(shape, channels):
    torch.manual_seed(0)
    net = WaveletCNN(width=8)
    init_weights(net)
    a, b = torch.rand(2, channels, *shape), torch.rand(2, channels, *shape)
    with torch.no_grad():
        f, w = net(a, b), net.weights(a, b)
        torch.testing.assert_close(net(b, a), f, atol=1e-5, rtol=0)
        torch.testing.assert_close(net.weights(b, a), 1 - w, atol=1e-6, rtol=0)
    assert f.shape == a.shape and w.shape == (2, 4, (shape[0] + 1) // 2, (shape[1] + 1) // 2)
    assert bool(((w >= 0) & (w <= 1)).all())


def test_weight_one_returns_a():
    # the fused sub-bands are w A + (1 - w) B: with w = 1 the inverse gives a back exactly
    net = WaveletCNN(width=4)
    a, b = torch.rand(1, 3, 21, 30, dtype=torch.float64), torch.rand(1, 3, 21, 30, dtype=torch.float64)
    net = net.double()
    net.weights = lambda x, y: torch.ones(1, 4, 11, 15, dtype=torch.float64)
    torch.testing.assert_close(net(a, b), a, atol=1e-12, rtol=0)


def _batch(n=2, size=48, seed=0):
    a, b, t = [], [], []
    for i in range(n):
        sharp = synthetic.dead_leaves(size, size, seed=seed + i)
        mask = synthetic.focus_mask(size, size, seed=seed + i)[..., None]
        blur = cv2.GaussianBlur(sharp, (0, 0), 2.5)
        a.append(np.where(mask, sharp, blur)), b.append(np.where(mask, blur, sharp)), t.append(sharp)
    chw = lambda xs: np.ascontiguousarray(np.stack(xs).transpose(0, 3, 1, 2)).astype(np.float32)  # noqa: E731
    return {"a": chw(a), "b": chw(b), "truth": chw(t)}


def test_one_training_step_lowers_the_loss():
    torch.manual_seed(0)
    task = get_task("wavelet-cnn")
    cfg = config("wavelet-cnn", "unused.pt", options={"width": 8})
    net = task.build(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    batch = _batch()
    before = [p.detach().clone() for p in net.parameters()]
    losses = []
    for _ in range(15):
        loss, stats = task.loss(net, batch, torch.device("cpu"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses)) and 0 <= stats["w_mean"] <= 1
    assert any(not torch.equal(p0, p) for p0, p in zip(before, net.parameters()))
    assert losses[-1] < losses[0]


def test_training_loop_writes_loadable_weights(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        img = (synthetic.dead_leaves(64, 80, seed=i) * 255).astype(np.uint8)
        cv2.imwrite(str(photos / f"p{i}.png"), img)
    out = tmp_path / "w.pt"
    cfg = config("wavelet-cnn", str(out), data=str(photos), steps=2, batch=2, every=2, progress=False,
                 checkpoint=str(tmp_path / "ck.pt"), options={"crop": 32, "width": 8})
    meta = run(get_task("wavelet-cnn"), cfg, echo=lambda *_: None)
    assert meta["kind"] == "wavelet-cnn" and meta["width"] == 8
    method = WaveletCNNMethod(weights=str(out))
    a, b = torch.rand(1, 3, 19, 23), torch.rand(1, 3, 19, 23)
    r = method.fuse_pair(a, b)
    assert r.fused.shape == a.shape and r.weights.shape == (1, 19, 23) and r.decision.dtype == torch.bool


def test_missing_weights_say_how_to_train(tmp_path):
    method = WaveletCNNMethod(weights=str(tmp_path / "none.pt"))
    with pytest.raises(FileNotFoundError, match="mfif train wavelet-cnn"):
        method.fuse_pair(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_bad_input_is_a_clear_error():
    m = WaveletCNNMethod(weights="/nonexistent.pt")
    with pytest.raises(ValueError, match="same shape"):
        m.fuse_pair(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


@pytest.mark.skipif(not os.path.isfile(os.path.join(os.path.dirname(mfif.__file__), "weights", "wavelet_cnn.pt")),
                    reason="the shipped wavelet-cnn weights are not in this checkout")
def test_shipped_weights_fuse_a_synthetic_pair_well():
    sharp = synthetic.dead_leaves(96, 96, seed=11)
    mask = synthetic.focus_mask(96, 96, seed=11)[..., None]
    blur = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    a, b = np.where(mask, sharp, blur), np.where(mask, blur, sharp)
    r = mfif.fuse([a, b], method="wavelet-cnn", device="cpu", align=False)
    err = lambda x: float(np.abs(x - sharp).mean())  # noqa: E731
    assert err(r.fused) < 0.5 * min(err(a), err(b))
    ba = mfif.fuse([b, a], method="wavelet-cnn", device="cpu", align=False)
    np.testing.assert_allclose(ba.fused, r.fused, atol=1e-5)
