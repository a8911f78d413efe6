"""mscnn (paper 003): shapes at any size, symmetry in the sources, the unsupervised SSIM loss,
one training step without any ground truth, the shared training loop, and the method."""
import os

import cv2
import numpy as np
import pytest
import torch

import mfif
from mfif import synthetic
from mfif.methods.mscnn import MSCNNMethod
from mfif.models.mscnn import MSCNN, init_weights
from mfif.train import config, get_task, run
from mfif.train.wavelet import source_gradient_loss, source_ssim_loss
from synthetic_photos import write_folder


def _pair(size=64, seed=0, sigma=2.5):
    sharp = synthetic.dead_leaves(size, size, seed=seed)
    mask = synthetic.focus_mask(size, size, seed=seed)[..., None]
    blur = cv2.GaussianBlur(sharp, (0, 0), sigma)
    return sharp, np.where(mask, sharp, blur), np.where(mask, blur, sharp)


def _t(*xs):
    return [torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float() for x in xs]


@pytest.mark.parametrize("shape,channels", [((1, 1), 3), ((5, 3), 1), ((37, 50), 3), ((64, 64), 1)])
def test_shapes_any_size_and_symmetry(shape, channels):
    torch.manual_seed(0)
    net = MSCNN(width=6, branch=2)
    init_weights(net)
    a, b = torch.rand(2, channels, *shape), torch.rand(2, channels, *shape)
    with torch.no_grad():
        f, w = net(a, b), net.weights(a, b)
        torch.testing.assert_close(net(b, a), f, atol=1e-5, rtol=0)
        torch.testing.assert_close(net.weights(b, a), 1 - w, atol=1e-6, rtol=0)
    assert f.shape == a.shape and w.shape == (2, 1) + shape
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    assert bool(((f >= lo - 1e-6) & (f <= hi + 1e-6)).all())  # a per-pixel blend of the sources


def test_source_ssim_loss_prefers_the_sharp_image():
    sharp, a, b = _pair(96, seed=3)
    ts, ta, tb = _t(sharp, a, b)
    assert float(source_ssim_loss(ta, ta, ta)) < 1e-6
    good = float(source_ssim_loss(ts, ta, tb))
    average = float(source_ssim_loss((ta + tb) / 2, ta, tb))
    wrong = float(source_ssim_loss(_t(np.where(a == sharp, b, a))[0], ta, tb))  # the blurred parts only
    assert good < average < wrong


def test_one_training_step_needs_no_ground_truth():
    torch.manual_seed(0)
    task = get_task("mscnn")
    net = task.build(config("mscnn", "unused.pt", options={"width": 6, "branch": 2}))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    pairs = [_pair(48, seed=s) for s in range(2)]
    batch = {k: np.stack([p[i].transpose(2, 0, 1) for p in pairs]).astype(np.float32)
             for i, k in ((1, "a"), (2, "b"))}  # no "truth" key: the loss cannot read one
    losses = []
    for _ in range(10):
        loss, _ = task.loss(net, batch, torch.device("cpu"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_training_loop_writes_loadable_weights(tmp_path):
    photos = write_folder(str(tmp_path / "photos"), n=3, labels=False, height=64, width=80)
    out = tmp_path / "m.pt"
    cfg = config("mscnn", str(out), data=photos, steps=2, batch=2, every=2, progress=False,
                 checkpoint=str(tmp_path / "ck.pt"), options={"crop": 32, "width": 6, "branch": 2})
    meta = run(get_task("mscnn"), cfg, echo=lambda *_: None)
    assert meta["kind"] == "mscnn" and meta["width"] == 6 and meta["branch"] == 2
    r = MSCNNMethod(weights=str(out)).fuse_pair(torch.rand(1, 1, 19, 23), torch.rand(1, 1, 19, 23))
    assert r.fused.shape == (1, 1, 19, 23) and r.weights.shape == (1, 19, 23)


def test_source_gradient_loss_rewards_the_sharp_edges():
    sharp, a, b = _pair(96, seed=5)
    ts, ta, tb = _t(sharp, a, b)
    assert float(source_gradient_loss(ta, ta, ta)) < 1e-6
    good = float(source_gradient_loss(ts, ta, tb))
    average = float(source_gradient_loss((ta + tb) / 2, ta, tb))
    assert good < average


def test_scales_and_grad_options_train_and_load(tmp_path):
    """--set scales=N builds an N-scale network (any size still works, stored in the weights' meta);
    --set grad=W adds source_gradient_loss to the SSIM loss."""
    photos = write_folder(str(tmp_path / "photos"), n=2, labels=False, height=64, width=80)
    out = tmp_path / "m.pt"
    cfg = config("mscnn", str(out), data=photos, steps=2, batch=1, every=2, progress=False,
                 options={"crop": 32, "width": 6, "branch": 2, "scales": 4, "grad": 2.0})
    task = get_task("mscnn")
    net = task.build(cfg)
    assert net.scales == 4 and len(net.extract) == 4
    _, stats = task.loss(net, task.data(cfg).sample(1), torch.device("cpu"))
    assert stats["grad_loss"] >= 0 and stats["ssim_loss"] > 0
    meta = run(get_task("mscnn"), cfg, echo=lambda *_: None)
    assert meta["scales"] == 4 and "gradient" in meta["loss"]
    r = MSCNNMethod(weights=str(out)).fuse_pair(torch.rand(1, 3, 13, 21), torch.rand(1, 3, 13, 21))
    assert r.fused.shape == (1, 3, 13, 21)


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="mfif train mscnn"):
        MSCNNMethod(weights=str(tmp_path / "none.pt")).fuse_pair(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


@pytest.mark.skipif(not os.path.isfile(os.path.join(os.path.dirname(mfif.__file__), "weights", "mscnn.pt")),
                    reason="the shipped mscnn weights are not in this checkout")
def test_shipped_weights_fuse_a_synthetic_pair_well():
    sharp, a, b = _pair(96, seed=11, sigma=3.0)
    r = mfif.fuse([a, b], method="mscnn", device="cpu", align=False)
    err = lambda x: float(np.abs(x - sharp).mean())  # noqa: E731
    assert err(r.fused) < 0.5 * min(err(a), err(b))
    assert "mscnn" in mfif.methods.available()


def test_mscnn_pp_postprocesses_the_map(tmp_path):
    """mscnn-pp: the 0.5 decision of the same network, small regions removed, guided filter; its
    decision has no region smaller than 1 % of the image, and the plain method's fused image is the
    blend of its own weights (the network runs once)."""
    torch.manual_seed(0)
    net = MSCNN(width=6, branch=2)
    init_weights(net)
    path = tmp_path / "m.pt"
    torch.save({"model": net.state_dict(), "meta": {"kind": "mscnn", "width": 6, "branch": 2}}, path)
    sharp, a, b = _pair(64, seed=4)
    ta, tb = _t(a, b)
    plain = MSCNNMethod(weights=str(path)).fuse_pair(ta, tb)
    torch.testing.assert_close(plain.fused, torch.lerp(tb, ta, plain.weights[:, None]), atol=1e-6, rtol=0)
    pp = MSCNNMethod(weights=str(path), postprocess=True).fuse_pair(ta, tb)
    assert pp.fused.shape == ta.shape and pp.decision.dtype == torch.bool
    from scipy import ndimage

    for mask in (pp.decision[0].numpy(), ~pp.decision[0].numpy()):
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        assert n == 0 or np.bincount(labels.ravel())[1:].min() >= 0.01 * 64 * 64
    assert mfif.methods.get("mscnn-pp").name == "mscnn-pp"
