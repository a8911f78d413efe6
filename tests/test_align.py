"""mfif.align: transforms recovered on generated stacks with known motion and blur,
identity stacks untouched, exposure matched, valid area, numpy/torch warps agree,
degenerate input refused or warned about."""
import json
import os
import warnings

import cv2
import numpy as np
import pytest
import torch

from mfif import align, io, synthetic

from conftest import DATA_DIR

H, W = 384, 512


@pytest.fixture(scope="module")
def sweep():
    """A focus sweep of 5 frames: +-8 % scale, rotation, shift, blur varying with depth."""
    return synthetic.moving_stack(H, W, n=5, seed=3, max_sigma=4.0)


@pytest.fixture(scope="module")
def estimated(sweep):
    """The default estimate on the sweep (shared by the tests that only use it)."""
    return align.estimate(sweep[0])


def _rms(al, T_true):
    return [align.rms_displacement(al.transforms[i], T_true[i], (H, W), step=2) for i in range(len(T_true))]


@pytest.mark.parametrize("strategy,model", [("chain", "affine"), ("chain", "similarity"), ("direct", "affine"),
                                            ("direct", "similarity"), ("chain", "homography")])
def test_recovers_known_transforms(sweep, estimated, strategy, model):
    frames, T_true = sweep
    default = (strategy, model) == ("chain", "similarity")  # the defaults: reuse the shared estimate
    al = estimated if default else align.estimate(frames, strategy=strategy, model=model)
    rms = _rms(al, T_true)
    assert max(rms) < 0.1, rms
    assert al.reference == 2 and al.resampled.sum() == 4


def test_recovers_on_downscaled_copies(sweep):
    # the estimate runs at half size (factor 2) and is rescaled to the full frame
    frames, T_true = sweep
    al = align.estimate(frames, estimate_size=256)
    assert max(_rms(al, T_true)) < 0.1


def test_recovers_with_one_blur_per_frame():
    frames, T_true = synthetic.moving_stack(H, W, n=5, seed=4, sigmas=[0.0, 2.0, 1.0, 3.0, 0.5])
    for strategy in align.STRATEGIES:
        al = align.estimate(frames, strategy=strategy)
        assert max(_rms(al, T_true)) < 0.1, strategy


def test_reference_is_selectable(sweep):
    frames, T_true = sweep
    al = align.estimate(frames, reference=0)
    T0 = np.stack([T @ np.linalg.inv(T_true[0]) for T in T_true])  # truth re-expressed for reference 0
    assert al.reference == 0 and max(_rms(al, T0)) < 0.1
    assert align.estimate(frames, reference=-1).reference == 4


def test_from_jpeg_paths_reduced_decode(sweep, tmp_path):
    # JPEG frames are decoded at reduced size for the estimate; the transforms are full-size
    frames, T_true = synthetic.moving_stack(576, 768, n=3, seed=5, max_sigma=3.0, max_scale=0.03)
    paths = []
    for i, f in enumerate(frames):
        p = str(tmp_path / f"f{i}.jpg")
        io.write_image(p, io.from_float(f))
        paths.append(p)
    al = align.estimate(paths, estimate_size=256)  # 768 wide: the JPEGs are decoded at 1/2 size
    rms = [align.rms_displacement(al.transforms[i], T_true[i], (576, 768), step=4) for i in range(3)]
    assert max(rms) < 0.1, rms
    aligned = list(align.iter_aligned(paths, al))
    assert aligned[1] is not None and aligned[0].shape == (576, 768, 3) and aligned[0].dtype == np.uint8


def test_warp_aligns_the_frames(sweep, estimated):
    frames, _ = sweep
    u8 = [io.from_float(f) for f in frames]
    al = estimated
    x0, y0, x1, y1 = al.box
    ref = u8[al.reference][y0:y1, x0:x1].astype(np.float64)
    for i in (0, 4):
        before = np.abs(u8[i][y0:y1, x0:x1] - ref).mean()
        after = np.abs(al.warp(i, u8[i])[y0:y1, x0:x1] - ref).mean()
        assert after < 0.5 * before


def test_identity_stack_is_untouched():
    truth = synthetic.dead_leaves(H, W, seed=1)
    frames = [io.from_float(cv2.GaussianBlur(truth, (0, 0), s)) if s else io.from_float(truth) for s in (0, 1.5, 3)]
    al = align.estimate(frames)
    assert al.is_identity and not al.resampled.any()
    assert al.box == (0, 0, W, H) and al.valid_mask().all()
    for i, f in enumerate(frames):
        out = al.warp(i, f)
        assert out is f  # not resampled, not even copied
    assert max(align.max_displacement(T, (H, W)) for T in al.transforms) < 0.3  # estimate's identity_tol


def test_exposure_gains_are_matched(sweep):
    frames, _ = sweep
    gains = np.array([[1.15, 1.0, 0.9], [1.05, 1.05, 1.05], [1, 1, 1], [0.9, 0.95, 1.0], [0.8, 0.85, 0.9]])
    lit = [np.clip(f / g, 0, 1) for f, g in zip(frames, gains)]  # frame i = reference light / gain
    al = align.estimate(lit)
    est = al.exposure[:, :, 0]
    assert np.allclose(est, gains, rtol=0.02), est
    assert al.exposure_applied.sum() == 4
    none = align.estimate(lit, exposure="none")
    assert not none.exposure_applied.any()
    go = align.estimate(lit, exposure="gain_offset")
    assert np.allclose(go.exposure[:, :, 0], gains, rtol=0.05) and np.abs(go.exposure[:, :, 1]).max() < 0.03


def test_valid_box_and_crop(sweep, estimated):
    frames, _ = sweep
    al = align.StackAlignment.from_transforms(estimated.transforms, (H, W), crop=True, identity_tol=0.3)
    x0, y0, x1, y1 = al.box
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    assert al.output_shape == (y1 - y0, x1 - x0)
    full = align.valid_mask(al.transforms, (H, W))
    assert full[y0:y1, x0:x1].all()  # the box is valid in every frame
    assert 0.7 < full.mean() < 1.0 and (x1 - x0) * (y1 - y0) > 0.8 * full.sum() * 0.8
    assert al.valid_mask().all() and al.valid_mask().shape == al.output_shape
    out = al.warp(0, frames[0])
    assert out.shape == al.output_shape + (3,)


def test_torch_warp_matches_opencv(sweep):
    frames, T_true = sweep
    f = frames[0]
    T = np.linalg.inv(T_true[0])
    ref = align.warp_array(f, T)
    t = torch.from_numpy(f).permute(2, 0, 1)
    out = align.warp_tensor(t, T, backend="torch").permute(1, 2, 0).numpy()  # grid_sample
    # OpenCV quantises the sampling positions to 1/32 pixel; compare away from the border
    assert np.abs(out - ref)[8:-8, 8:-8].mean() < 2e-3
    assert np.array_equal(align.warp_tensor(t, T).permute(1, 2, 0).numpy(), ref)  # auto: OpenCV on the CPU
    batch = align.warp_tensor(torch.stack([t, t]), np.stack([T, np.eye(3)]), backend="torch")
    assert torch.allclose(batch[1], t, atol=1e-4)  # float32 grid: identity to 1e-5
    assert torch.allclose(batch[0], torch.from_numpy(out).permute(2, 0, 1), atol=1e-6)
    e = np.array([[2.0, 0.0], [1.0, 0.1], [0.5, 0.0]])
    ex = align.warp_tensor(t, None, e)
    assert torch.allclose(ex[1], (t[1] + 0.1).clamp(0, 1)) and torch.allclose(ex[0], (2 * t[0]).clamp(0, 1))


def test_stack_alignment_warps_tensors_and_uint16(sweep, estimated):
    frames, _ = sweep
    al = estimated
    t = torch.from_numpy(frames[0]).permute(2, 0, 1)
    a = al.warp(0, t).permute(1, 2, 0).numpy()
    b = al.warp(0, frames[0])
    assert np.abs(a - b)[8:-8, 8:-8].mean() < 2e-3
    u16 = io.from_float(frames[0], np.uint16)
    c = al.warp(0, u16)
    assert c.dtype == np.uint16 and np.abs(c / 65535.0 - b)[8:-8, 8:-8].mean() < 2e-3
    with pytest.raises(ValueError, match="alignment was estimated on"):
        al.warp(0, frames[0][:100])


def test_reuse_transforms_and_summary(sweep, estimated):
    frames, T_true = sweep
    al = estimated
    again = align.StackAlignment.from_transforms(al.transforms, (H, W), reference=al.reference)
    assert np.array_equal(again.warp(1, frames[1]), align.warp_array(frames[1], al.transforms[1], None, "cubic"))
    s = al.summary()
    json.dumps(s)
    assert len(s["frames"]) == 5 and s["reference"] == 2
    scale0 = np.sqrt(np.linalg.det(T_true[0][:2, :2]))
    assert abs(s["frames"][0]["scale"] - scale0) < 1e-3


def test_rescale_is_consistent():
    T = np.array([[1.02, 0.01, 3.0], [-0.01, 1.02, -2.0], [0, 0, 1]])
    Tf = align.rescale(T, 4, 4)
    # a coarse pixel p is the fine pixel 4p + 1.5: mapping commutes with the scaling
    p = np.array([10.0, 20.0, 1.0])
    S = np.array([[4, 0, 1.5], [0, 4, 1.5], [0, 0, 1]])
    assert np.allclose(Tf @ (S @ p), S @ (T @ p))


def test_uniform_frame_warns_and_is_left_alone(sweep):
    frames, _ = sweep
    stack = list(frames)
    stack[1] = np.full_like(frames[1], 0.5)
    for strategy in align.STRATEGIES:
        with pytest.warns(align.AlignmentWarning, match=r"uniform"):
            al = align.estimate(stack, strategy=strategy)
        assert not al.resampled[1] and al.resampled[0] and al.resampled[3]
    stack[2] = np.zeros_like(frames[2])
    with pytest.raises(ValueError, match="reference frame 2 is uniform"):
        align.estimate(stack)


def test_degenerate_input_errors(sweep):
    frames, _ = sweep
    with pytest.raises(ValueError, match="same size"):
        align.estimate([frames[0], frames[1][:200]])
    with pytest.raises(ValueError, match="channel"):
        align.estimate([frames[0], frames[1][..., 0]])
    with pytest.raises(ValueError, match="empty"):
        align.estimate([])
    with pytest.raises(ValueError, match="out of range"):
        align.estimate(frames, reference=9)
    with pytest.raises(ValueError, match="unknown alignment model"):
        align.estimate(frames, model="warp")
    with pytest.raises(ValueError, match="unknown strategy"):
        align.estimate(frames, strategy="pairs")
    with pytest.raises(ValueError, match="unknown exposure"):
        align.estimate(frames, exposure="hdr")
    with pytest.warns(align.AlignmentWarning, match="single frame"):
        one = align.estimate(frames[:1])
    assert one.is_identity and one.warp(0, frames[0]) is frames[0]


def test_unrelated_frames_warn_not_hang():
    a = synthetic.dead_leaves(H, W, seed=10)
    b = np.random.default_rng(0).random((H, W, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        al = align.estimate([a, b])  # returns (aligned or flagged), never hangs
    assert al.transforms.shape == (2, 3, 3)


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA_DIR, "lytro")), reason="needs ../shared/data/lytro")
def test_lytro_pair_estimates_are_small():
    # the Lytro pairs are registered up to a small refocusing magnification (< 0.5 %)
    a, b = (os.path.join(DATA_DIR, "lytro", f"lytro-01-{x}.jpg") for x in "AB")
    al = align.estimate([a, b])
    assert align.max_displacement(al.transforms[0], al.shape) < 0.005 * np.hypot(*al.shape)


# --- alignment inside mfif.fuse and `mfif fuse` ------------------------------------------

@pytest.fixture(scope="module")
def moving_sweep():
    """A 5-frame sweep with its all-in-focus truth in the reference frame's geometry."""
    frames, T_true = synthetic.moving_stack(h2, w2, n=5, seed=6, max_sigma=3.0)
    return [io.from_float(f) for f in frames], T_true


h2, w2 = 192, 256  # the fusion tests run on smaller frames


def _psnr_box(x, y, box):
    x0, y0, x1, y1 = box
    d = x[y0:y1, x0:x1].astype(np.float64) - y[y0:y1, x0:x1]
    return 10 * np.log10(255.0**2 / np.mean(d * d))


def test_fuse_aligns_stacks_by_default(moving_sweep):
    import mfif

    frames, _ = moving_sweep
    on = mfif.fuse(frames, method="focus")
    off = mfif.fuse(frames, method="focus", align=False)
    assert off.alignment is None and "off" in off.align_note
    al = on.alignment
    assert al.resampled.sum() == 4 and on.align_note.startswith("aligned 4 of 5")
    # the aligned fusion agrees with the reference frame where it is sharp much better than the unaligned one:
    # compare both with the reference frame itself, through a band-pass that ignores blur differences
    box = al.box
    ref = frames[al.reference].astype(np.float64)
    err_on = np.abs(on.fused.astype(np.float64) - ref)[box[1]:box[3], box[0]:box[2]].mean()
    err_off = np.abs(off.fused.astype(np.float64) - ref)[box[1]:box[3], box[0]:box[2]].mean()
    assert err_on < 0.6 * err_off, (err_on, err_off)


def test_fuse_with_crop_and_reused_options(moving_sweep):
    import mfif

    frames, _ = moving_sweep
    r = mfif.fuse(frames, method="focus", crop=True, align_options={"model": "affine", "reference": 1})
    x0, y0, x1, y1 = r.alignment.box
    assert r.fused.shape == (y1 - y0, x1 - x0, 3) and r.index.shape == (y1 - y0, x1 - x0)
    assert r.alignment.reference == 1 and r.alignment.model == "affine" and r.size == (y1 - y0, x1 - x0)


def test_fuse_pair_auto_leaves_registered_pairs_alone():
    import mfif

    a, b, _, _ = synthetic.multifocus_pair(128, 128, seed=2)
    auto = mfif.fuse([a, b], method="gff")
    off = mfif.fuse([a, b], method="gff", align=False)
    assert auto.align_note.startswith("not aligned") and np.array_equal(auto.fused, off.fused)


def test_fuse_streams_with_alignment(moving_sweep):
    import weakref

    import mfif

    frames, _ = moving_sweep
    alive, peak, loads = [0], [0], [0]

    def loader(i):
        def load():
            arr = frames[i].copy()
            alive[0] += 1
            loads[0] += 1
            peak[0] = max(peak[0], alive[0])
            weakref.finalize(arr, lambda: alive.__setitem__(0, alive[0] - 1))
            return arr
        return load

    r = mfif.fuse([loader(i) for i in range(5)], method="focus", align=True)
    # the estimate pass reads the two halves of the chain on two threads: at most two frames at a time
    assert peak[0] <= 2
    assert loads[0] == 5 + 5 + 2 * 5  # probe, estimate, two fusion passes
    assert r.alignment.resampled.sum() == 4


def test_fuse_tensor_stacks_align(moving_sweep):
    import mfif

    frames, _ = moving_sweep
    x = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames])
    # tensors are taken as registered unless alignment is asked for
    assert mfif.fuse(x, method="focus").alignment is None
    r = mfif.fuse(x, method="focus", align=True)
    assert r.alignment.resampled.sum() == 4 and r.fused.shape == (3, h2, w2)
    ref = mfif.fuse(frames, method="focus")
    diff = np.abs(r.fused.permute(1, 2, 0).numpy() * 255 - ref.fused.astype(np.float64))[8:-8, 8:-8]
    assert diff.mean() < 1.0  # grid_sample and OpenCV warps agree
    rb = mfif.fuse(torch.stack([x, x]), method="focus", crop=True, align=True)
    assert len(rb.alignment) == 2 and rb.fused.shape[0] == 2 and rb.fused.shape[-2:] == rb.size


def test_cli_fuse_aligns_and_reports(moving_sweep, tmp_path):
    from click.testing import CliRunner

    from mfif.cli import main

    frames, _ = moving_sweep
    paths = []
    for i, f in enumerate(frames):
        paths.append(str(tmp_path / f"f{i}.png"))
        io.write_image(paths[-1], f)
    out, noal, js = str(tmp_path / "fused.png"), str(tmp_path / "noalign.png"), str(tmp_path / "t.json")
    res = CliRunner().invoke(main, ["fuse", *paths, "-o", out, "--transforms", js])
    assert res.exit_code == 0, res.output
    assert "aligned 4 of 5 frames to frame 2" in res.output and "f0.png: scale" in res.output  # frames named
    data = json.load(open(js))
    assert len(data["frames"]) == 5 and np.array(data["frames"][0]["transform"]).shape == (3, 3)
    assert [f["name"] for f in data["frames"]] == [f"f{i}.png" for i in range(5)]
    res = CliRunner().invoke(main, ["fuse", *paths, "-o", noal, "--no-align", "-q"])
    assert res.exit_code == 0 and not np.array_equal(io.read_image(out), io.read_image(noal))
    res = CliRunner().invoke(main, ["fuse", *paths, "-o", str(tmp_path / "c.png"), "--crop", "-q"])
    assert res.exit_code == 0 and io.read_image(str(tmp_path / "c.png")).shape[1] < w2
    for bad, msg in ((["--reference", "9"], "out of range"), (["--no-align", "--transforms", js], "--no-align")):
        res = CliRunner().invoke(main, ["fuse", *paths, "-o", str(tmp_path / "x.png"), *bad])
        assert res.exit_code != 0 and msg in res.output and len(res.output.strip().splitlines()) == 1


def test_grey_and_16bit_frames(sweep):
    frames, T_true = sweep
    grey = [cv2.cvtColor(io.from_float(f, np.uint16), cv2.COLOR_RGB2GRAY) for f in frames]
    al = align.estimate(grey)
    assert max(_rms(al, T_true)) < 0.1 and al.exposure.shape == (5, 1, 2)
    out = al.warp(0, grey[0])
    assert out.shape == grey[0].shape and out.dtype == np.uint16
    g3 = grey[0][..., None]
    assert al.warp(0, g3).shape == g3.shape


@pytest.mark.parametrize("size", [40, 64, 96])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.filterwarnings("ignore:frame 1 could not be registered")  # some OpenCV versions give up: also fine
def test_registered_pair_with_a_regional_exposure_change_stays_put(size, seed):
    """ECC alone moved such pairs (a 3 % scale on 40x40, 13 % on 64x64, depending on the OpenCV
    version); a result that agrees worse with the reference than the start is not kept."""
    from mfif.align import estimate

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    b = a.copy()
    b[:, size // 2:] = (a[:, size // 2:] // 2 + 40).astype(np.uint8)
    frames = estimate([a, b]).summary()["frames"]
    assert all(f["max_displacement_px"] == 0 for f in frames), frames


def test_correlation_prefers_the_true_shift():
    import cv2

    from mfif.align._ecc import correlation

    ref = cv2.GaussianBlur(np.random.default_rng(0).random((64, 80), dtype=np.float32), (0, 0), 2)
    moved = np.roll(ref, (0, 3), axis=(0, 1))
    shift = np.array([[1.0, 0, 3], [0, 1, 0], [0, 0, 1]])
    assert correlation(ref, moved, shift) > 0.99 > correlation(ref, moved, np.eye(3))
    far = np.array([[1.0, 0, 70], [0, 1, 0], [0, 0, 1]])  # almost no overlap
    assert correlation(ref, moved, far) == -1.0
