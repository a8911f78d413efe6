"""mfif.synthetic: paper 002's Gaussian pairs, the realistic variant, the sampler and the validation set."""
import numpy as np
import pytest

from mfif.synthetic import (PairSampler, PhotoSet, disc_blur, gaussian_pair, oracle, realistic_pair, region_subset,
                            validation_set)
from synthetic_photos import photo_and_regions, write_folder


def test_gaussian_pair_follows_eq1():
    img, regions = photo_and_regions(1)
    p = gaussian_pair(img, regions, np.random.default_rng(0), sigma=2.0)
    m = p.focus.astype(bool)
    assert 0 < m.mean() < 1
    # a is the sharp photo where focus is 1 and b elsewhere; the other source there is blurred
    np.testing.assert_array_equal(p.a[m], img[m])
    np.testing.assert_array_equal(p.b[~m], img[~m])
    assert np.abs(p.b[m] - img[m]).mean() > 0.01 and np.abs(p.a[~m] - img[~m]).mean() > 0.01
    # the focus map is a union of whole regions
    for r in np.unique(regions):
        assert len(np.unique(p.focus[regions == r])) == 1


def test_region_subset_nonempty_groups():
    regions = np.repeat(np.arange(5), 4)[:, None].repeat(3, 1)
    for s in range(20):
        g = region_subset(regions, np.random.default_rng(s), 3)
        assert set(np.unique(g)) == {0, 1, 2}


def test_realistic_pair_layered_and_noisy():
    img, regions = photo_and_regions(2)
    p = realistic_pair(img, regions, np.random.default_rng(3))
    assert p.a.dtype == np.float32 and p.a.shape == img.shape and 0 <= p.a.min() and p.a.max() <= 1
    assert set(np.unique(p.focus)) <= {0.0, 1.0}
    # the focus map's selection is close to the truth, far closer than either source
    sel = np.where(p.focus[..., None] > 0.5, p.a, p.b)
    err = lambda x: float(np.mean((x - img) ** 2))  # noqa: E731
    assert err(sel) < 0.5 * min(err(p.a), err(p.b))
    o = oracle(p.a, p.b, img)[..., None]
    assert err(o * p.a + (1 - o) * p.b) <= err(sel) + 1e-9
    # without noise, flat images stay flat (normalised blur keeps constants)
    flat = np.full((40, 40, 3), 0.3, np.float32)
    q = realistic_pair(flat, regions[:40, :40], np.random.default_rng(4), noise=False)
    np.testing.assert_allclose(q.a, 0.3, atol=1e-5)
    np.testing.assert_allclose(q.b, 0.3, atol=1e-5)


def test_disc_blur_keeps_mean_and_identity():
    x = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    np.testing.assert_array_equal(disc_blur(x, 0.3), x)
    assert abs(disc_blur(x, 3.0).mean() - x.mean()) < 0.01


def test_sampler_deterministic_and_resumable(tmp_path):
    folder = write_folder(str(tmp_path / "photos"))
    s1, s2 = PairSampler(folder, crop=48, seed=5), PairSampler(folder, crop=48, seed=5)
    b1 = s1.sample(3)
    assert b1["a"].shape == (3, 3, 48, 48) and b1["focus"].shape == (3, 1, 48, 48)
    state = s1.state_dict()
    nxt = s1.sample(2)
    np.testing.assert_array_equal(b1["a"], s2.sample(3)["a"])
    s3 = PairSampler(folder, crop=48, seed=99)
    s3.load_state_dict(state)
    for k, v in s3.sample(2).items():
        np.testing.assert_array_equal(v, nxt[k])
    assert not np.array_equal(PairSampler(folder, crop=48, seed=6).sample(3)["a"], b1["a"])


def test_sampler_unlabelled_and_small_photos(tmp_path):
    folder = write_folder(str(tmp_path / "plain"), n=2, labels=False, height=40, width=50)
    ps = PhotoSet(folder)
    assert len(ps) == 2 and ps.photos[0].label_paths == []
    b = PairSampler(ps, crop=64, seed=0).sample(2)  # photos smaller than crop + margin are reflected
    assert b["a"].shape == (2, 3, 64, 64)


def test_validation_set_bit_exact(tmp_path):
    folder = write_folder(str(tmp_path / "val"), n=3)
    for variant in ("gaussian", "realistic"):
        v1, v2 = validation_set(folder, variant), validation_set(folder, variant, n=2)
        assert len(v1) == 3 and len(v2) == 2
        for p, q in zip(v1, v2):
            for k in ("a", "b", "truth", "focus"):
                np.testing.assert_array_equal(getattr(p, k), getattr(q, k))


def test_bad_folders_have_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        PhotoSet(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        PhotoSet(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="variant"):
        validation_set(str(tmp_path / "empty"), "motion")
