"""The boundary-aware two-stage network (paper 000): band selection, patches, any size, the method,
its training task."""
import numpy as np
import pytest
import torch

import mfif
import mfif.methods as M
from mfif.models.boundary_aware import (PRIOR_EPS, BoundaryAware, Settings, band_mask, block_origins, default_path,
                                        extract_patches, from_meta, load_boundary_aware)
from mfif.train import config, get_task
from synthetic_photos import astronaut_pair, psnr, write_folder


def _brute_band(w, band):
    """Pixels with a pixel of the other class within Chebyshev distance ``band`` (loops)."""
    d = (w >= 0.5)
    H, W = d.shape
    out = np.zeros_like(d)
    for y in range(H):
        for x in range(W):
            win = d[max(0, y - band):y + band + 1, max(0, x - band):x + band + 1]
            out[y, x] = win.min() != win.max()
    return out


def test_band_of_a_straight_border():
    w = torch.zeros(1, 30, 40)
    w[:, :, 20:] = 1
    m = band_mask(w, band=3)[0]
    cols = m.any(0).nonzero()[:, 0].tolist()
    assert cols == [17, 18, 19, 20, 21, 22] and bool(m[:, 17:23].all())


@pytest.mark.parametrize("band", [1, 2, 5])
def test_band_matches_brute_force(band):
    rng = np.random.default_rng(band)
    w = np.zeros((23, 31), np.float32)
    w[5:15, 8:20] = 1          # a rectangle
    w[18:, 25:] = 0.7          # a corner region touching the image edge
    w += rng.uniform(-0.1, 0.1, w.shape).astype(np.float32) * (np.abs(w - 0.5) > 0.3)
    got = band_mask(torch.from_numpy(w)[None], band)[0].numpy()
    np.testing.assert_array_equal(got, _brute_band(w, band))


def test_band_edges_and_uncertain():
    assert not band_mask(torch.ones(2, 9, 11), 4).any()            # no border: no band (image edge is none)
    w = torch.full((1, 9, 11), 0.9)
    w[0, 4, 5] = 0.6
    assert band_mask(w, 0, uncertain=0.2)[0].nonzero().tolist() == [[4, 5]]
    with pytest.raises(ValueError):
        band_mask(torch.ones(9, 11), 2)


def test_blocks_and_patches():
    mask = torch.zeros(37, 50, dtype=torch.bool)
    mask[9, 17] = True
    mask[36, 49] = True
    assert block_origins(mask, 8).tolist() == [[8, 16], [32, 48]]
    x = torch.rand(7, 61, 70)
    p = extract_patches(x, torch.tensor([[8, 16], [16, 24]]), 8, 40)
    assert p.shape == (2, 7, 40, 40)
    torch.testing.assert_close(p[1, :, 16:24, 16:24], x[:, 16:24, 24:32])   # centre block = image block
    torch.testing.assert_close(p[1], x[:, 0:40, 8:48])                      # fully inside: no padding
    p = extract_patches(x, torch.tensor([[56, 64]]), 8, 40)                # past the edge: reflected
    assert torch.isfinite(p).all()


def test_untrained_stage_two_reproduces_stage_one():
    torch.manual_seed(0)
    net = BoundaryAware().eval()
    a, b = torch.rand(1, 3, 37, 50), torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        w1 = net.stage_one(a, b)
        merged, band = net.refine(a, b, w1)
    assert band.shape == w1.shape
    torch.testing.assert_close(merged, w1.clamp(PRIOR_EPS, 1 - PRIOR_EPS).where(band, w1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(37, 50), (1, 1), (2, 3), (9, 5), (64, 17)])
@pytest.mark.parametrize("channels", [1, 3])
def test_method_any_size(size, channels):
    a, b = torch.rand(1, channels, *size), torch.rand(1, channels, *size)
    for post in (False, True):
        m = M.get("boundary-aware")
        m.postprocess = post
        r = m.fuse_pair(a, b)
        assert r.fused.shape == a.shape and torch.isfinite(r.fused).all()
        assert r.weights.shape == (1, *size)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="same shape"):
        M.get("boundary-aware").fuse_pair(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"\[k, 7, P, P\]"):
        BoundaryAware().stage2(torch.rand(2, 6, 40, 40))



def test_shipped_weights_fuse_a_synthetic_pair():
    a, b, truth = astronaut_pair()
    for post in (False, True):
        m = M.get("boundary-aware")
        m.postprocess = post
        r = m.fuse_pair(a, b)
        assert psnr(r.fused, truth) > max(psnr(a, truth), psnr(b, truth)) + 4
    # stage two did something: the band is not empty and its decisions are used there
    maps = M.get("boundary-aware").maps(a, b)
    assert maps["band"].any()
    assert torch.equal(maps["merged"][~maps["band"]], maps["stage1"][~maps["band"]])


def test_shipped_weights_hold_both_stages():
    net = load_boundary_aware()
    ck = torch.load(default_path(), weights_only=True)
    assert ck["meta"]["kind"] == "boundary-aware" and "backbone" in ck["meta"]
    assert any(k.startswith("stage1.") for k in ck["model"]) and any(k.startswith("stage2.") for k in ck["model"])
    assert net.settings.block == ck["meta"]["block"]


def test_swap_gives_the_swapped_result():
    a, b, _ = astronaut_pair(4)
    for sym in (False, True):
        m = M.get("boundary-aware")
        m.symmetric = sym
        diff = (m.fuse_pair(a, b).fused - m.fuse_pair(b, a).fused).abs().mean()
        assert float(diff) < 1e-2


def test_grey_float64_and_stack():
    a, b, truth = astronaut_pair(5, (64, 80))
    ga, gb, gt = (mfif.pipeline.to_grey(x).double() for x in (a, b, truth))
    r = M.get("boundary-aware").fuse_pair(ga, gb)
    assert r.fused.dtype == torch.float64 and psnr(r.fused, gt) > max(psnr(ga, gt), psnr(gb, gt))
    c = 0.5 * (a + b)
    frames = [x[0].permute(1, 2, 0).numpy() for x in (a, b, c)]
    out = mfif.fuse(frames, method="boundary-aware", align=False)
    m = M.get("boundary-aware")
    expect = m.fuse_pair(m.fuse_pair(a, b).fused, c).fused.clamp(0, 1)
    got = torch.as_tensor(np.asarray(out.fused, np.float32)).permute(2, 0, 1)[None]
    torch.testing.assert_close(got, expect, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_folder(str(tmp_path_factory.mktemp("photos")), n=2, height=64, width=72)


def test_one_training_step(photos):
    cfg = config("boundary-aware", "unused.pt", data=photos, steps=2, batch=1, progress=False,
                 options={"crop": 48, "per_crop": 4})
    t = get_task("boundary-aware")
    torch.manual_seed(cfg.seed)
    net = t.build(cfg)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(2):  # the head starts at zero: the body's weights move from the second step on
        net.train()
        loss, stats = t.loss(net, t.data(cfg).sample(2), torch.device("cpu"))
        assert loss.ndim == 0 and torch.isfinite(loss) and 0 <= stats["acc"] <= 1
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("stage1."))   # frozen
    assert not torch.equal(before["stage2.head.2.weight"], after["stage2.head.2.weight"])
    assert not torch.equal(before["stage2.net.stem1.0.0.weight"], after["stage2.net.stem1.0.0.weight"])


def test_cli_fuse(tmp_path):
    from click.testing import CliRunner

    from mfif import io
    from mfif.cli import main as cli

    a, b, _ = astronaut_pair(6, (48, 64))
    pa, pb = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    for path, x in ((pa, a), (pb, b)):
        io.write_image(path, (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    r = CliRunner().invoke(cli, ["fuse", pa, pb, "-o", str(tmp_path / "f.png"), "-m", "boundary-aware"])
    assert r.exit_code == 0, r.output
    assert io.read_image(str(tmp_path / "f.png")).shape[:2] == (48, 64)


def test_untrained_local_stage_two_reproduces_stage_one():
    torch.manual_seed(0)
    net = BoundaryAware(settings=Settings(local=16)).eval()
    a, b = torch.rand(1, 3, 37, 50), torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        w1 = net.stage_one(a, b)
        merged, band = net.refine(a, b, w1)
    torch.testing.assert_close(merged, w1.clamp(PRIOR_EPS, 1 - PRIOR_EPS).where(band, w1), atol=1e-5, rtol=0)
    assert from_meta(net.meta()).settings.local == 16


def test_training_step_local_head_groups(photos):
    cfg = config("boundary-aware", "unused.pt", data=photos, steps=2, batch=1, progress=False,
                 options={"crop": 48, "per_crop": 4, "local": 16, "ce": 0.0, "head_lr": 3.0})
    t = get_task("boundary-aware")
    torch.manual_seed(cfg.seed)
    net = t.build(cfg)
    assert net.settings.local == 16
    groups = t.param_groups(net, cfg)
    assert groups[1]["lr"] == 3 * groups[0]["lr"]
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in net.stage2.parameters())
    opt = torch.optim.Adam(groups)
    before = net.stage2.head[2].weight.clone()
    net.train()
    loss, stats = t.loss(net, t.data(cfg).sample(2), torch.device("cpu"))
    assert torch.isfinite(loss) and stats["l1"] >= 0
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert not torch.equal(before, net.stage2.head[2].weight)
