"""The Laplacian-pyramid stack method: its filters against a plain convolution, exact
reconstruction, identical frames, and the tile alignment its levels need."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mfif
from mfif.methods.pyramid import METHOD, levels_for, pyr_down, pyr_up

BINOMIAL = torch.tensor([1.0, 4, 6, 4, 1], dtype=torch.float64) / 16


@pytest.mark.parametrize("h, w", [(101, 77), (100, 78), (5, 6), (7, 3)])
def test_down_is_blur_then_subsample(h, w):
    x = torch.rand(2, 3, h, w, dtype=torch.float64)
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate").reshape(6, 1, h + 4, w + 4)
    blurred = F.conv2d(padded, (BINOMIAL[:, None] * BINOMIAL[None])[None, None]).reshape(2, 3, h, w)
    torch.testing.assert_close(pyr_down(x), blurred[..., ::2, ::2], rtol=0, atol=1e-14)


def test_up_is_the_zero_interleaved_blur():
    x = torch.rand(1, 1, 9, 11, dtype=torch.float64)
    z = torch.zeros(1, 1, 18, 22, dtype=torch.float64)
    z[..., ::2, ::2] = x * 4  # Burt and Adelson's expand: interleave zeros, blur, times 4
    zp = F.pad(z, (2, 2, 2, 2), mode="replicate")
    # replicate padding of the zero-interleaved signal is not the same border; compare the interior
    want = F.conv2d(zp, (BINOMIAL[:, None] * BINOMIAL[None])[None, None])
    torch.testing.assert_close(pyr_up(x, (18, 22))[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], rtol=0, atol=1e-14)


@pytest.mark.parametrize("h, w", [(101, 77), (64, 64), (33, 200)])
def test_decomposition_reconstructs_exactly(h, w):
    x = torch.rand(1, 3, h, w, dtype=torch.float64)
    m = METHOD.for_size(h, w)
    laps, top = m.decompose(x)
    assert len(laps) == min(levels_for(h, w), m.max_levels)
    g = top
    for c in reversed(laps):
        g = pyr_up(g, c.shape[-2:]) + c
    torch.testing.assert_close(g, x, rtol=0, atol=1e-12)


def test_identical_frames_give_the_frame():
    x = torch.rand(1, 3, 80, 96)
    r = METHOD.fuse_stack([x, x.clone(), x.clone()])
    torch.testing.assert_close(r.fused, x.clamp(0, 1), rtol=0, atol=1e-6)
    assert int(r.index.max()) == 0  # ties stay with the first frame


def test_levels_fixed_per_size_and_tiles_aligned():
    m = METHOD.for_size(1536, 2048)
    assert m.levels == 6 and m.tile_align == 64 and m.halo % 64 == 0
    assert METHOD.halo is None  # unbound: cannot be tiled before its levels are known
    frames = [np.random.default_rng(i).random((150, 200, 3)).astype(np.float32) for i in range(3)]
    whole = mfif.fuse(frames, method="pyramid", tile=None)
    tiled = mfif.fuse(frames, method="pyramid", tile=50)  # rounded up to the 8-px grid of 3 levels
    assert tiled.tiles == 12
    assert np.abs(tiled.fused - whole.fused).max() < 1e-6 and np.array_equal(tiled.index, whole.index)


class _TorchForm(type(METHOD)):
    """The pyramid method forced onto its torch form (what CUDA frames get)."""

    @staticmethod
    def _on_cpu(frame):
        return False


@pytest.mark.parametrize("shape", [(1, 3, 97, 131), (2, 1, 64, 64), (1, 3, 40, 24)])
@pytest.mark.parametrize("kw", [{}, {"coarse_by_focus": True}, {"fine_sigma": None}, {"fine_sigma": 0},
                                {"energy_radius": 0, "depth_radius": 0, "depth_smooth": 0}])
def test_opencv_form_matches_the_torch_form(shape, kw):
    gen = torch.Generator().manual_seed(sum(shape))
    frames = [torch.rand(shape, generator=gen) for _ in range(5)]
    cv_form = type(METHOD)(**kw).fuse_stack(frames)
    torch_form = _TorchForm(**kw).fuse_stack(frames)
    assert (cv_form.fused - torch_form.fused).abs().max() < 2e-6
    assert torch.equal(cv_form.index, torch_form.index) and cv_form.index.dtype == torch.int32


def test_grey_frames_keep_their_coefficients():
    # a grey frame is its own grey plane: its energy must not be computed in place
    x = torch.rand(1, 1, 64, 64)
    for form in (METHOD, _TorchForm()):
        torch.testing.assert_close(form.fuse_stack([x, x.clone()]).fused, x, rtol=0, atol=1e-6)


def test_frames_smaller_than_one_level():
    frames = [torch.rand(1, 3, 20, 24) for _ in range(3)]
    assert levels_for(20, 24) == 0
    for form in (METHOD, _TorchForm()):
        r = form.fuse_stack(frames)
        assert r.fused.shape == (1, 3, 20, 24) and r.index.shape == (1, 20, 24)


def test_flat_areas_get_frame_zero_in_both_forms():
    # no focus measure anywhere in a window: nothing to smooth, frame 0 (not a garbage index)
    frames = [torch.full((1, 3, 64, 96), 0.5) for _ in range(4)]
    for f in frames[1:]:
        f[..., :, 60:] = torch.rand(1, 3, 64, 36)  # texture on the right only
    for form in (METHOD, _TorchForm()):
        idx = form.fuse_stack(frames).index
        assert int(idx.min()) >= 0 and int(idx.max()) <= 3
        assert (idx[..., :, :30] == 0).all()
