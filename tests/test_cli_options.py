"""`mfif fuse`'s options: method parameters, JPEG quality, align-only, threads, logging, fixed choices."""
import logging
import os

import numpy as np
import pytest
from click.testing import CliRunner

from mfif import io, synthetic
from mfif.cli import main


@pytest.fixture
def pair(tmp_path):
    a, b, _, _ = synthetic.multifocus_pair(96, 128, seed=1)
    paths = []
    for name, img in (("a", a), ("b", b)):
        paths.append(str(tmp_path / f"{name}.png"))
        io.write_image(paths[-1], io.from_float(img))
    return paths, tmp_path


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_param_sets_a_method_parameter(pair):
    paths, tmp = pair
    r = run("fuse", *paths, "-o", str(tmp / "default.png"), "-m", "gff", "-q")
    assert r.exit_code == 0, r.output
    r = run("fuse", *paths, "-o", str(tmp / "r1.png"), "-m", "gff", "--param", "r1=2", "-p", "eps1=0.01", "-q")
    assert r.exit_code == 0, r.output
    assert not np.array_equal(io.read_image(str(tmp / "default.png")), io.read_image(str(tmp / "r1.png")))
    r = run("fuse", *paths, "-o", str(tmp / "x.png"), "-m", "gff", "--param", "radius=2")
    assert r.exit_code != 0 and "gff has no parameter 'radius'" in r.output and "r1" in r.output


def test_param_of_the_pyramid_keeps_the_torch_free_path(pair):
    paths, tmp = pair
    r = run("fuse", *paths, paths[0], "-o", str(tmp / "p.png"), "-m", "pyramid", "--param", "depth_radius=4",
            "--no-align")
    assert r.exit_code == 0 and "with pyramid" in r.output, r.output


def test_jpeg_quality(pair):
    paths, tmp = pair
    sizes = {}
    for q in (30, 95):
        out = str(tmp / f"q{q}.jpg")
        r = run("fuse", *paths, "-o", out, "-m", "gff", "--jpeg-quality", str(q), "-q")
        assert r.exit_code == 0, r.output
        sizes[q] = os.path.getsize(out)
    assert sizes[30] < 0.7 * sizes[95]
    assert run("fuse", *paths, "-o", str(tmp / "x.jpg"), "--jpeg-quality", "0").exit_code != 0


def test_align_only_writes_the_aligned_frames(pair):
    paths, tmp = pair
    r = run("fuse", *paths, "--align-only", str(tmp / "aligned"))
    assert r.exit_code == 0, r.output
    written = sorted(os.listdir(tmp / "aligned"))
    assert written == ["a.png", "b.png"]
    assert io.read_image(str(tmp / "aligned" / "a.png")).shape == (96, 128, 3)
    # never over an input: the folder of the inputs is refused
    r = run("fuse", *paths, "--align-only", str(tmp))
    assert r.exit_code != 0 and "never overwrites an input" in r.output


def test_verbose_logs_and_quiet_is_silent(pair, caplog):
    paths, tmp = pair
    with caplog.at_level(logging.INFO, logger="mfif"):
        r = run("fuse", *paths, "-o", str(tmp / "v.png"), "-m", "gff", "-v", "--threads", "1")
    assert r.exit_code == 0, r.output
    assert any(rec.name.startswith("mfif") and "align" in rec.getMessage() for rec in caplog.records)
    r = run("fuse", *paths, "-o", str(tmp / "q.png"), "-m", "gff", "-q")
    assert r.exit_code == 0 and r.output == ""


def test_method_and_device_are_fixed_choices(pair):
    paths, tmp = pair
    r = run("fuse", *paths, "-o", str(tmp / "x.png"), "-m", "nope")
    assert r.exit_code == 2 and "'nope' is not one of" in r.output and "gff" in r.output
    r = run("fuse", *paths, "-o", str(tmp / "x.png"), "-d", "tpu")
    assert r.exit_code == 2 and "'tpu' is not one of" in r.output
    assert run("fuse", *paths, "-o", str(tmp / "x.png"), "-m", "GFF", "-d", "CPU", "-q").exit_code == 0


def test_depth_map_legend_names_the_frames(pair):
    paths, tmp = pair
    r = run("fuse", *paths, "-o", str(tmp / "f.png"), "--depth-map", str(tmp / "d.png"), "-m", "gff")
    assert r.exit_code == 0, r.output
    assert "a.png" in r.output and "b.png" in r.output


def test_crop_is_an_explicit_choice_and_documented():
    r = run("fuse", "--help")
    assert "--crop / --no-crop" in r.output and "focus-stack" in r.output


def test_evaluate_help_states_the_naming_rule():
    r = run("evaluate", "--help")
    assert r.exit_code == 0 and "<name>-A.<ext>, <name>-B.<ext>" in r.output
