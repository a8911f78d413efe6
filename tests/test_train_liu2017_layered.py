"""The two-layer defocus scenes and window labels of scripts/train_liu2017.py (--layered)."""
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import train_liu2017 as T  # noqa: E402


def _textures(n=3, size=96, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((size, size)).astype(np.float32) for _ in range(n)]


def test_layered_scenes_are_the_layers_composited():
    mattes = []
    scenes = T.layered_scenes(_textures(), 4, np.random.default_rng(1), size=64, mattes=mattes)
    assert len(scenes) == len(mattes) == 4
    for s, alpha in zip(scenes, mattes):
        assert s.shape == (4, 64, 64) and s.dtype == np.float32
        near, far, truth, matte = s
        np.testing.assert_array_equal(matte, alpha)
        assert 0 <= alpha.min() and alpha.max() <= 1
        # the near-focused image is the truth wherever the foreground is opaque
        opaque = alpha == 1
        np.testing.assert_allclose(near[opaque], truth[opaque], atol=1e-6)
        # the far-focused one is the truth wherever the blurred foreground does not reach
        clear = T.disc_blur(alpha, T.LAYERED_RADII[1]) == 0
        if clear.any():
            np.testing.assert_allclose(far[clear], truth[clear], atol=1e-6)


def test_truth_labels_pick_the_source_closer_to_the_truth():
    rng = np.random.default_rng(2)
    truth = rng.random((64, 64)).astype(np.float32)
    flat = np.full_like(truth, 0.5)
    # near = truth, far = flat: every weighted window must point to the textured (near) source
    scene = np.stack([truth, flat, truth, np.ones_like(truth)])
    a, b, target, weights = T.LayeredSampler([scene], np.random.default_rng(3)).sample(32)
    assert a.shape == b.shape == (32, 1, T.CROP, T.CROP)
    assert target.shape == weights.shape == (32, 9, 9)
    assert weights.sum() > 0
    first_textured = (a.flatten(1).std(1) > b.flatten(1).std(1)).long()
    want = (1 - first_textured)[:, None, None].expand_as(target)  # class 0: first is in focus
    assert torch.equal(target[weights > 0], want[weights > 0])


def test_coverage_labels_follow_the_matte():
    rng = np.random.default_rng(4)
    # near darker than far, so the order of a crop pair shows in its means (the jitter keeps it)
    near = (0.4 * rng.random((64, 64))).astype(np.float32)
    far = (0.6 + 0.4 * rng.random((64, 64))).astype(np.float32)
    truth = rng.random((64, 64)).astype(np.float32)
    for alpha_value, near_wins in [(1.0, True), (0.0, False)]:
        scene = np.stack([near, far, truth, np.full_like(near, alpha_value)])
        a, b, target, weights = T.LayeredSampler([scene], np.random.default_rng(5), "coverage").sample(16)
        assert weights.sum() > 0
        first_is_near = a.mean((1, 2, 3)) < b.mean((1, 2, 3))
        assert 0 < first_is_near.sum() < 16  # both orders drawn
        first_wins = first_is_near if near_wins else ~first_is_near
        want = (~first_wins).long()[:, None, None].expand_as(target)  # class 0: first is in focus
        assert torch.equal(target[weights > 0], want[weights > 0])
    with pytest.raises(ValueError, match="label must be"):
        T.LayeredSampler([scene], np.random.default_rng(0), "area")
