"""quadtree (Bai, Zhang, Zhou, Xue 2015) against a literal transcription of the published code, generated
pairs with a known answer, N-frame stacks, odd sizes, and the survey's outputs of the published code."""
import dataclasses
import os

import numpy as np
import pytest
import torch

import mfif
from mfif import io, synthetic
from mfif.methods import quadtree as qt

from classic_literal import quadtree_channel
from conftest import DATA_DIR


def _tensor(img):
    img = img if img.ndim == 3 else img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


def _pair(h, w, seed=0, grey=False):
    a, b, truth, mask = synthetic.multifocus_pair(h, w, seed=seed, sigma=2.5)
    a, b = (np.floor(x * 255 + 0.5) / 255 for x in (a, b))  # 8-bit sources
    if grey:
        a, b = a[..., 1], b[..., 1]
    return a, b, mask


def test_parameters_are_the_published_ones():
    m = mfif.methods.get("quadtree")
    assert (m.step, m.threshold, m.window, m.split_ratio, m.morph_size) == (1, 5.0, 17, 0.98, 5)
    assert m.small_fraction == pytest.approx(1 / 40) and m.levels == 255 and m.name == "quadtree"
    w = m.weights("cpu")
    assert w.shape == (17, 17) and w[8, 8] == 1.0 and w[8, 9] == 0.5 and w[0, 0] == pytest.approx(1 / (8 * 2 ** 0.5 + 1))


@pytest.mark.parametrize("h,w", [(96, 128), (61, 45)])
def test_matches_literal_transcription(h, w):
    a, b, _ = _pair(h, w, seed=3)
    r = qt.METHOD.fuse_pair(_tensor(a), _tensor(b))
    fused = np.rint(r.fused[0].permute(1, 2, 0).double().numpy() * 255)
    for c in range(3):
        ref, labels = quadtree_channel(a[..., c] * 255, b[..., c] * 255)
        np.testing.assert_array_equal(fused[..., c], ref)
    # the decision (majority of the channels' maps) follows the literal maps
    labels = np.stack([quadtree_channel(a[..., c] * 255, b[..., c] * 255)[1] for c in range(3)])
    weight = np.where(labels == 1, 1.0, np.where(labels == 2, 0.0, 0.5)).mean(0)
    assert (r.decision[0].numpy() == (weight > 0.5)).mean() > 0.99


def test_quadtree_leaves_match_literal():
    g = torch.Generator().manual_seed(1)
    ga, gb = (torch.rand(1, 40, 70, generator=g, dtype=torch.float64) * 50 for _ in range(2))
    from classic_literal import quadtree_labels
    np.testing.assert_array_equal(qt.METHOD.decision(ga, gb)[0].numpy(), quadtree_labels(ga[0].numpy(), gb[0].numpy()))


def test_decision_map_on_generated_pair():
    a, b, mask = _pair(192, 192, seed=5)
    r = qt.METHOD.fuse_pair(_tensor(a), _tensor(b))
    d = r.decision[0].numpy()
    inner = np.ones_like(mask)
    inner[:8], inner[-8:], inner[:, :8], inner[:, -8:] = False, False, False, False
    assert (d == mask)[inner].mean() > 0.95  # sharp half of a taken from a, the rest from b
    assert torch.equal(r.decision, r.weights > 0.5)


def test_grey_16bit_and_odd_sizes():
    for h, w in [(1, 1), (2, 9), (17, 3), (33, 65)]:
        a, b, _ = _pair(max(h, 8), max(w, 8), seed=h)
        a, b = a[:h, :w, 1], b[:h, :w, 1]
        r = qt.METHOD.fuse_pair(_tensor(a), _tensor(b))
        assert r.fused.shape == (1, 1, h, w) and torch.isfinite(r.fused).all()
        ref, _ = quadtree_channel(a * 255, b * 255)
        np.testing.assert_array_equal(np.rint(r.fused[0, 0].double().numpy() * 255), ref)
    a, b, _ = _pair(64, 48, seed=2, grey=True)
    a16, b16 = (np.round(x * 65535).astype(np.uint16) for x in (a, b))
    r = mfif.fuse([a16, b16], method="quadtree", align=False)
    assert r.fused.dtype == np.uint16 and r.fused.shape == (64, 48)
    m16 = qt.METHOD.for_bit_depth(16)
    assert m16.levels == 65535 and dataclasses.replace(m16, levels=255) == qt.METHOD


def test_mismatched_sources_are_refused():
    with pytest.raises(ValueError, match="different shapes"):
        qt.METHOD.fuse_pair(torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16))


def test_stack_of_three_is_fused_pairwise():
    a, b, _ = _pair(64, 64, seed=7)
    c = np.clip(a * 0.5 + b * 0.5, 0, 1)
    stack = torch.stack([_tensor(x)[0] for x in (a, b, c)])  # [N, C, H, W]
    r = mfif.fuse(stack, method="quadtree", align=False)
    m = qt.METHOD
    ab = m.fuse_pair(_tensor(a), _tensor(b)).fused
    expect = m.fuse_pair(ab, _tensor(c)).fused
    torch.testing.assert_close(r.fused, expect[0])
    assert set(np.unique(r.index.numpy())) <= {0, 1, 2}


def test_cli_and_registry(tmp_path):
    assert "quadtree" in mfif.methods.available()
    a, b, _ = _pair(48, 40, seed=4)
    pa, pb, out = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "f.png"
    io.write_image(str(pa), io.from_float(a))
    io.write_image(str(pb), io.from_float(b))
    from click.testing import CliRunner

    from mfif.cli import main
    res = CliRunner().invoke(main, ["fuse", str(pa), str(pb), "-o", str(out), "--method", "quadtree", "--no-align"])
    assert res.exit_code == 0, res.output
    ref = mfif.fuse([str(pa), str(pb)], method="quadtree", align=False).fused
    np.testing.assert_array_equal(io.read_image(str(out)), ref)


LYTRO = os.path.join(DATA_DIR, "lytro")


@pytest.mark.skipif(not os.path.isfile(os.path.join(DATA_DIR, "reference", "fused", "lytro-01-quadtree.png")),
                    reason="needs ../shared/data (Lytro pairs and the survey's quadtree outputs)")
@pytest.mark.parametrize("k", [1, 7, 16])
def test_published_outputs(k):
    """At least 98 % of the pixels within one grey level of the published code's output (all equal, in fact)."""
    paths = [os.path.join(LYTRO, f"lytro-{k:02d}-{s}.jpg") for s in "AB"]
    fused = mfif.fuse(paths, method="quadtree", align=False).fused.astype(np.int32)
    ref = io.read_image(os.path.join(DATA_DIR, "reference", "fused", f"lytro-{k:02d}-quadtree.png")).astype(np.int32)
    d = np.abs(fused - ref).max(2)
    assert (d <= 1).mean() >= 0.98
    assert (d == 0).mean() >= 0.999
