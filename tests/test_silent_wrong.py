"""Answers that used to be wrong without a word: NaN/Inf frames, float frames on another scale,
16-bit results scored apart from their 8-bit copies, `evaluate -m` scored against frames the fusion
did not use, truncated JPEGs, uniform and tiny pairs."""
import csv
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mfif
from mfif import io, synthetic
from mfif import metrics as M
from mfif.cli import main
from mfif.fusion import StackError
from mfif.fusion import sources

FloatRangeWarning = getattr(sources, "FloatRangeWarning", UserWarning)  # (so this module also runs on older mfif)

METHODS = ["pyramid", "gff", "focus", "liu2017"]


def _pair(h=48, w=64, seed=3):
    a, b, _, _ = synthetic.multifocus_pair(h, w, seed=seed)
    return a.astype(np.float32), b.astype(np.float32)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", METHODS)
def test_nan_or_inf_is_refused_by_every_method_and_path(method, bad):
    a, b = _pair()
    b[5, 7, 1] = bad
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1) for x in (a, b))
    forms = {"arrays": [a, b], "tensor list": [ta, tb], "stack tensor": torch.stack([ta, tb]),
             "loaders": [lambda: a, lambda: b]}
    for form, frames in forms.items():
        with pytest.raises(StackError, match="NaN or Inf"):
            mfif.fuse(frames, method=method, device="cpu", align="off")
    # the method itself, called on tensors without the driver
    with pytest.raises((ValueError, RuntimeError), match="NaN or Inf"):
        mfif.methods.get(method).fuse_pair(ta[None], tb[None])


def test_nan_refused_on_the_torch_free_cpu_path():
    from mfif.fusion import cpu_files

    a, b = _pair()
    c = a.copy()
    c[0, 0, 0] = np.nan
    with pytest.raises(StackError, match="image 3 contains NaN or Inf"):
        cpu_files.plan([a, b, c], "pyramid", "cpu")
    calls = []

    def changes():  # a lazy loader whose frame goes bad after the probe: found when loaded
        calls.append(1)
        return a if len(calls) == 1 else c

    job, _ = cpu_files.plan([a, b, changes], "pyramid", "cpu")
    with pytest.raises(StackError, match="image 3 contains NaN or Inf"):
        cpu_files.fuse_files(job, align="off")


@pytest.mark.parametrize("method", ["pyramid", "gff"])
def test_floats_on_the_0_255_scale_are_refused_naming_the_range(method):
    a, b = _pair()
    with pytest.raises(StackError, match=r"span \[[0-9.]+, 2[0-9][0-9][.0-9]*\], but float frames must be in \[0, 1\]; divide 8-bit values by 255"):
        mfif.fuse([a * 255, b * 255], method=method, device="cpu", align="off")
    stack = torch.from_numpy(np.stack([a, b]) * 255).permute(0, 3, 1, 2)
    with pytest.raises(StackError, match="divide 8-bit values by 255"):
        mfif.fuse(stack, method=method, device="cpu", align="off")


def test_small_excursions_are_clipped_with_a_warning():
    a, b = _pair()
    a[0, 0, 0], b[1, 1, 1] = 1.2, -0.1
    with pytest.warns(FloatRangeWarning, match=r"image 1: float values span \[.*, 1\.2\].*clipped"):
        r = mfif.fuse([a, b], method="gff", device="cpu", align="off")
    assert r.fused.min() >= 0 and r.fused.max() <= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", FloatRangeWarning)
        mfif.fuse([np.clip(a, 0, 1), np.clip(b, 0, 1)], method="gff", device="cpu", align="off")


def test_sixteen_bit_result_scores_as_its_eight_bit_copy(tmp_path):
    a, b = _pair(64, 64, seed=5)
    a8, b8 = io.from_float(a), io.from_float(b)
    fused16 = io.from_float(np.maximum(a, b), np.uint16)
    fused8 = io.from_float(np.maximum(a, b))
    assert np.array_equal(np.floor(fused16 / 257 + 0.5).astype(np.uint8), fused8)
    s16, s8 = M.evaluate(a8, b8, fused16), M.evaluate(a8, b8, fused8)
    assert s16 == s8  # QMI differed by 0.06 on a colour pair before
    assert M.evaluate(a8, b8, torch.from_numpy(fused16.astype(np.int32)).to(torch.uint16).permute(2, 0, 1)) == s8
    src, res8, res16 = tmp_path / "src", tmp_path / "r8", tmp_path / "r16"
    for d in (src, res8, res16):
        d.mkdir()
    io.write_image(str(src / "s-A.png"), a8)
    io.write_image(str(src / "s-B.png"), b8)
    io.write_image(str(res8 / "s.png"), fused8)
    io.write_image(str(res16 / "s.tif"), fused16)
    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(main, ["evaluate", str(src), "-f", str(res8), "-f", str(res16), "--metrics",
                                  "QMI,QG,QY", "--csv", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["QMI"] == rows[1]["QMI"] and rows[0]["QG"] == rows[1]["QG"] and rows[0]["QY"] == rows[1]["QY"]


def _breathing_pair(tmp_path):
    """A pair with 2 % focus breathing (a scale change) between its frames."""
    frames, _ = synthetic.moving_stack(120, 160, n=2, seed=4, max_scale=0.02, max_rotation_deg=0, max_shift=0)
    src = tmp_path / "src"
    src.mkdir()
    paths = [str(src / "s-A.png"), str(src / "s-B.png")]
    for p, f in zip(paths, frames):
        io.write_image(p, io.from_float(f))
    return src, paths


def test_evaluate_method_scores_against_the_frames_the_fusion_used(tmp_path):
    src, paths = _breathing_pair(tmp_path)
    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(main, ["evaluate", str(src), "-m", "gff", "--metrics", "QMI,QG",
                                                  "--csv", str(out)])
    assert r.exit_code == 0, r.output
    assert "scored against the aligned sources" in r.stderr
    fused = mfif.fuse(paths, method="gff", device="cpu", align="auto")
    assert fused.alignment is not None and fused.alignment.resampled.any()
    aligned = [fused.alignment.warp(i, io.read_image(p)) for i, p in enumerate(paths)]
    want = M.evaluate(aligned[0], aligned[1], fused.fused, metrics=["QMI", "QG"])
    row = next(csv.DictReader(out.open()))
    assert float(row["QG"]) == pytest.approx(want["QG"], rel=1e-9)
    assert float(row["QMI"]) == pytest.approx(want["QMI"], rel=1e-9)
    # --no-align: the unaligned fusion against the unaligned sources, and no such note
    r = CliRunner().invoke(main, ["evaluate", str(src), "-m", "gff", "--metrics", "QG",
                                                  "--no-align", "--csv", str(out)])
    assert r.exit_code == 0 and "aligned sources" not in r.stderr
    plain = mfif.fuse(paths, method="gff", device="cpu", align="off").fused
    assert float(next(csv.DictReader(out.open()))["QG"]) == pytest.approx(
        M.evaluate(paths[0], paths[1], plain, metrics=["QG"])["QG"], rel=1e-9)


def _truncated_jpeg(tmp_path, name="cut.jpg"):
    a, _ = _pair(96, 128)
    path = tmp_path / name
    io.write_image(str(path), io.from_float(a))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def test_truncated_jpeg_is_refused_naming_the_file(tmp_path):
    cut = _truncated_jpeg(tmp_path)
    whole = str(tmp_path / "whole.jpg")
    io.write_image(whole, io.from_float(_pair(96, 128)[1]))
    with pytest.raises(io.ImageError, match="cut.jpg: the JPEG is truncated"):
        io.read_image(cut)
    with pytest.raises(StackError, match="cut.jpg: the JPEG is truncated"):
        mfif.fuse([whole, cut], method="gff", device="cpu", align="off")
    r = CliRunner().invoke(main, ["fuse", whole, cut, "-o", str(tmp_path / "out.png"), "-m", "gff"])
    assert r.exit_code == 1 and "cut.jpg: the JPEG is truncated" in r.output
    assert io.read_image(whole).shape == (96, 128, 3)  # a complete JPEG still reads
    # data appended after a complete JPEG (as some cameras do) is no truncation
    tail = tmp_path / "tail.jpg"
    tail.write_bytes(open(whole, "rb").read() + b"extra data after the image" * 10)
    assert np.array_equal(io.read_image(str(tail)), io.read_image(whole))


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (5, 7), (64, 64, 3)])
def test_uniform_and_tiny_pairs_fuse_by_default(shape, tmp_path):
    frames = [np.full(shape, 0.25, np.float32), np.full(shape, 0.25, np.float32)]
    r = mfif.fuse(frames)  # the defaults: alignment "auto", liu2017 for pairs (gff below 16 px)
    assert np.array_equal(r.fused, frames[0])
    paths = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    for p in paths:
        io.write_image(p, np.full(shape, 77, np.uint8))
    out = str(tmp_path / "out.png")
    res = CliRunner().invoke(main, ["fuse", *paths, "-o", out])
    assert res.exit_code == 0, res.output
    assert np.array_equal(io.read_image(out), np.full(shape[:2] + shape[2:], 77, np.uint8).reshape(
        shape if len(shape) == 3 else shape[:2]))


def test_a_tiny_textured_pair_defaults_to_gff():
    rng = np.random.default_rng(0)
    frames = [rng.random((8, 9), dtype=np.float32) for _ in range(2)]
    assert mfif.fuse(frames, align="off").method == "gff"
    assert mfif.fusion.default_method(2, (16, 16)) in ("liu2017", "gff")


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "x"])
def test_one_tile_rule_for_the_api_and_the_command(value, tmp_path):
    a, b = _pair()
    try:
        tile = int(value)
    except ValueError:
        tile = value
    with pytest.raises(StackError, match="tile"):
        mfif.fuse([a, b], method="focus", device="cpu", tile=tile, align="off")
    paths = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    for p, f in zip(paths, (a, b)):
        io.write_image(p, io.from_float(f))
    r = CliRunner().invoke(main, ["fuse", *paths, "-o", str(tmp_path / "o.png"), "--tile", value])
    assert r.exit_code == 1 and r.output.startswith("Error: --tile: tile") and len(r.output.splitlines()) == 1


def test_aligned_float_frames_draw_no_range_warning():
    """The range rule is the user's frames' rule: the cubic warp's overshoot of aligned frames is not reported."""
    frames, _ = synthetic.moving_stack(96, 128, n=3, seed=2, max_scale=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FloatRangeWarning)
        for kw in (dict(method="pyramid"), dict(method="focus", tile=64)):
            assert mfif.fuse(frames, align="on", **kw).alignment.resampled.any()
