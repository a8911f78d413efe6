"""dsift (Liu, Liu, Wang 2015) against a literal transcription of the published code (its pixel loops),
generated pairs with a known answer, N-frame stacks, odd sizes, and the survey's outputs of the published code."""
import os

import numpy as np
import pytest
import torch

import mfif
from mfif import io, synthetic
from mfif.methods import dsift as ds
from mfif.methods.classic import grey_levels

from classic_literal import dsift_map
from conftest import DATA_DIR


def _tensor(img):
    img = img if img.ndim == 3 else img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


def _pair(h, w, seed=0):
    a, b, truth, mask = synthetic.multifocus_pair(h, w, seed=seed, sigma=2.5)
    a, b = (np.floor(x * 255 + 0.5) / 255 for x in (a, b))  # 8-bit sources
    return a, b, mask


def test_parameters_are_the_published_ones():
    m = mfif.methods.get("dsift")
    assert (m.scale, m.block_size, m.min_area, m.match_radius, m.sf_radius, m.matching) == (48, 8, 3600, 3, 3, True)
    assert m.patch == 24 and m.sample_offsets() == [0, 6, 12, 18] and m.levels == 255 and m.name == "dsift"


def test_matches_literal_transcription():
    a, b, _ = _pair(90, 110, seed=2)
    ta, tb = _tensor(a), _tensor(b)
    ga, gb = grey_levels(ta, 255), grey_levels(tb, 255)
    fmap = ds.METHOD.decision_map(ga, gb)[0].numpy()
    ref = dsift_map(ga[0].numpy(), gb[0].numpy())
    assert (ref == 0.5).any() and (ref == 1).any() and (ref == 0).any()  # all three cases exercised
    np.testing.assert_array_equal(fmap, ref)
    r = ds.METHOD.fuse_pair(ta, tb)
    w = ref[..., None]
    expect = np.where(w == 1, a, np.where(w == 0, b, np.floor((a + b) * 255 / 2 + 0.5) / 255))
    np.testing.assert_allclose(r.fused[0].permute(1, 2, 0).double().numpy(), expect, atol=1e-6)
    assert torch.equal(r.decision[0], torch.from_numpy(ref > 0.5))


def test_decision_map_on_generated_pair():
    a, b, mask = _pair(160, 160, seed=5)
    r = ds.METHOD.fuse_pair(_tensor(a), _tensor(b))
    d, decided = r.decision[0].numpy(), r.weights[0].numpy() != 0.5
    assert (d == mask).mean() > 0.9 and (d == mask)[decided].mean() > 0.9 and decided.mean() > 0.9


def test_without_matching_all_inner_pixels_are_decided():
    a, b, _ = _pair(64, 64, seed=1)
    m = ds.DSIFT(matching=False)
    w = m.fuse_pair(_tensor(a), _tensor(b)).weights[0]
    assert not (w[3:-3, 3:-3] == 0.5).any()


@pytest.mark.parametrize("h,w", [(1, 1), (5, 30), (9, 7), (41, 23)])
def test_any_size_grey_and_colour(h, w):
    a, b, _ = _pair(max(h, 16), max(w, 16), seed=h + w)
    for x, y in ((a[:h, :w], b[:h, :w]), (a[:h, :w, 0], b[:h, :w, 0])):
        r = ds.METHOD.fuse_pair(_tensor(x), _tensor(y))
        assert r.fused.shape == _tensor(x).shape and torch.isfinite(r.fused).all()
        ga, gb = grey_levels(_tensor(x), 255), grey_levels(_tensor(y), 255)
        np.testing.assert_array_equal(r.weights[0].double().numpy(), dsift_map(ga[0].numpy(), gb[0].numpy()))


def test_sixteen_bit_and_flat_images():
    a, b, _ = _pair(48, 48, seed=9)
    a16, b16 = (np.round(x * 65535).astype(np.uint16) for x in (a, b))
    r = mfif.fuse([a16, b16], method="dsift", align=False)
    assert r.fused.dtype == np.uint16 and r.fused.shape == (48, 48, 3)
    assert ds.METHOD.for_bit_depth(16).levels == 65535
    flat = torch.zeros(1, 1, 20, 20)  # no gradient at all: every pixel undecided, the mean of the sources
    r = ds.METHOD.fuse_pair(flat, flat + 0.5)
    assert torch.all(r.weights == 0.5) and torch.allclose(r.fused, torch.full_like(flat, 64 / 255))


def test_mismatched_sources_are_refused():
    with pytest.raises(ValueError, match="different shapes"):
        ds.METHOD.fuse_pair(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))


def test_stack_of_three_is_fused_pairwise():
    a, b, _ = _pair(64, 64, seed=7)
    c = np.clip(a * 0.5 + b * 0.5, 0, 1)
    stack = torch.stack([_tensor(x)[0] for x in (a, b, c)])
    r = mfif.fuse(stack, method="dsift", align=False)
    m = ds.METHOD
    expect = m.fuse_pair(m.fuse_pair(_tensor(a), _tensor(b)).fused, _tensor(c)).fused
    torch.testing.assert_close(r.fused, expect[0])
    assert set(np.unique(r.index.numpy())) <= {0, 1, 2}
    assert "dsift" in mfif.methods.available()


LYTRO = os.path.join(DATA_DIR, "lytro")


@pytest.mark.skipif(not os.path.isfile(os.path.join(DATA_DIR, "reference", "fused", "lytro-01-dsift.png")),
                    reason="needs ../shared/data (Lytro pairs and the survey's dsift outputs)")
@pytest.mark.parametrize("k", [2, 5, 20])
def test_published_outputs(k):
    """At least 98 % of the pixels within one grey level of the published code's output (all equal, in fact)."""
    paths = [os.path.join(LYTRO, f"lytro-{k:02d}-{s}.jpg") for s in "AB"]
    fused = mfif.fuse(paths, method="dsift", align=False).fused.astype(np.int32)
    ref = io.read_image(os.path.join(DATA_DIR, "reference", "fused", f"lytro-{k:02d}-dsift.png")).astype(np.int32)
    d = np.abs(fused - ref).max(2)
    assert (d <= 1).mean() >= 0.98
    assert (d == 0).mean() >= 0.999


def test_torch_forms_match_the_opencv_ones(monkeypatch):
    """The filters' torch forms (what runs on CUDA) give the maps of the OpenCV forms the CPU uses."""
    from mfif.methods import classic, quadtree
    a, b, _ = _pair(72, 90, seed=11)
    ta, tb = _tensor(a), _tensor(b)
    want_d = ds.METHOD.fuse_pair(ta, tb).weights
    want_q = quadtree.METHOD.fuse_pair(ta, tb).weights
    monkeypatch.setattr(classic, "USE_OPENCV", False)
    assert torch.equal(ds.METHOD.fuse_pair(ta, tb).weights, want_d)
    assert torch.equal(quadtree.METHOD.fuse_pair(ta, tb).weights, want_q)
