"""`mfif fuse` on the command line: outputs, bit depths, and one-line errors on bad input."""
import os

import numpy as np
import pytest
from click.testing import CliRunner

from mfif import io, synthetic
from mfif.cli import main


@pytest.fixture
def pair(tmp_path):
    a, b, truth, mask = synthetic.multifocus_pair(96, 128, seed=1)
    paths = {}
    for name, img in (("a", a), ("b", b)):
        paths[name] = str(tmp_path / f"{name}.png")
        io.write_image(paths[name], io.from_float(img))
        paths[name + "16"] = str(tmp_path / f"{name}16.tif")
        io.write_image(paths[name + "16"], io.from_float(img, np.uint16))
    paths["small"] = str(tmp_path / "small.png")
    io.write_image(paths["small"], io.from_float(a[:50]))
    paths["grey"] = str(tmp_path / "grey.png")
    io.write_image(paths["grey"], io.from_float(a[..., 0]))
    paths["broken"] = str(tmp_path / "broken.png")
    with open(paths["broken"], "wb") as f:
        f.write(b"not an image")
    return paths, truth, mask, tmp_path


def run(*args):
    return CliRunner().invoke(main, ["fuse", *args])


def test_fuse_pair_writes_fused_and_depth_map(pair):
    paths, truth, mask, tmp = pair
    out, depth = str(tmp / "fused.png"), str(tmp / "depth.png")
    r = run(paths["a"], paths["b"], "-o", out, "--depth-map", depth, "--method", "gff")
    assert r.exit_code == 0, r.output
    assert "fused 2 frames (128x96 colour) with gff on cpu" in r.output and "8-bit" in r.output
    fused, dmap = io.read_image(out), io.read_image(depth)
    assert fused.dtype == np.uint8 and fused.shape == truth.shape
    assert 10 * np.log10(1 / np.mean((fused / 255.0 - truth) ** 2)) > 30
    assert set(np.unique(dmap)) <= {0, 255}
    assert ((dmap == 0) == mask).mean() > 0.9  # black where the first image was taken


def test_sixteen_bit_in_sixteen_bit_out(pair):
    paths, _, _, tmp = pair
    out = str(tmp / "fused16.tif")
    r = run(paths["a16"], paths["b16"], "-o", out, "-m", "focus", "-q")
    assert r.exit_code == 0, r.output
    assert r.output == ""
    assert io.read_image(out).dtype == np.uint16


def test_folder_and_glob_inputs(pair):
    paths, _, _, tmp = pair
    stack = tmp / "stack"
    stack.mkdir()
    frames = [io.read_image(paths["a"]), io.read_image(paths["b"]), io.read_image(paths["a"])]
    for i, f in enumerate(frames):
        io.write_image(str(stack / f"frame_{i}.png"), f)
    r1 = run(str(stack), "-o", str(tmp / "f1.png"))
    r2 = run(str(stack / "frame_*.png"), "-o", str(tmp / "f2.png"))
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert "fused 3 frames" in r1.output and "with pyramid" in r1.output  # the stack default
    assert np.array_equal(io.read_image(str(tmp / "f1.png")), io.read_image(str(tmp / "f2.png")))


@pytest.mark.parametrize("case, message", [
    ("single", "at least two frames"),
    ("missing", "no such file"),
    ("broken", "not an image"),
    ("sizes", "same size"),
    ("channels", "grey"),
    ("depths", "same bit depth"),
    ("out_is_input", "never overwrites an input"),
    ("depth_is_input", "never overwrites an input"),
    ("jpeg16", "8 bits only"),
    # an unknown --method is a usage error of click's fixed choices: tests/test_cli_options.py
    ("no_folder", "does not exist"),
])
def test_bad_input_is_one_clear_line(pair, case, message):
    paths, _, _, tmp = pair
    out = str(tmp / "out.png")
    args = {
        "single": [paths["a"], "-o", out],
        "missing": [paths["a"], str(tmp / "nope.png"), "-o", out],
        "broken": [paths["a"], paths["broken"], "-o", out],
        "sizes": [paths["a"], paths["small"], "-o", out],
        "channels": [paths["a"], paths["grey"], "-o", out],
        "depths": [paths["a"], paths["b16"], "-o", out],
        "out_is_input": [paths["a"], paths["b"], "-o", paths["b"]],
        "depth_is_input": [paths["a"], paths["b"], "-o", out, "--depth-map", paths["a"]],
        "jpeg16": [paths["a16"], paths["b16"], "-o", str(tmp / "out.jpg")],
        "no_folder": [paths["a"], paths["b"], "-o", str(tmp / "no" / "out.png")],
    }[case]
    before = {p: open(p, "rb").read() for p in (paths["a"], paths["b"])}
    r = run(*args)
    assert r.exit_code != 0
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], r.output
    assert "Traceback" not in r.output
    assert not os.path.exists(out)
    assert all(open(p, "rb").read() == data for p, data in before.items())  # inputs untouched


def test_help_documents_the_command():
    top = CliRunner().invoke(main, ["--help"])
    assert top.exit_code == 0 and "fuse" in top.output and "demo" in top.output
    sub = CliRunner().invoke(main, ["fuse", "--help"])
    for word in ("--out", "--method", "--device", "--depth-map", "--tile", "gff", "focus", "pyramid", "16"):
        assert word in sub.output


SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples")


def test_readme_main_job_on_the_shipped_samples(tmp_path):
    near, far = (os.path.join(SAMPLES, f"coffee-{n}.jpg") for n in ("near", "far"))
    out, depth = str(tmp_path / "fused.png"), str(tmp_path / "decision.png")
    r = run(near, far, "-o", out, "--depth-map", depth)
    assert r.exit_code == 0, r.output
    sharpness = lambda img: float(np.mean(np.square(  # noqa: E731
        np.diff(img.astype(np.float64).mean(2), axis=1))))
    fused, a, b = io.read_image(out), io.read_image(near), io.read_image(far)
    assert sharpness(fused) > 1.1 * max(sharpness(a), sharpness(b))
    d = io.read_image(depth)
    assert d[200, 280] == 0 and d[20, 20] == 255  # the cup from the near frame, the table from the far one


def test_outputs_get_normal_file_permissions(tmp_path):
    # atomic writes go through mkstemp (mode 0600); the result must be readable
    # like any file the user writes (0666 less the umask), not private
    img = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    out = tmp_path / "x.png"
    old = os.umask(0o022)
    try:
        io.write_image(str(out), img)
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".mfif-")]  # no temporary left behind


def test_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "x.png"
    with pytest.raises(io.ImageError):
        io.write_image(str(out), np.zeros((4, 4), np.float32))
    with pytest.raises(RuntimeError):
        with io.atomic_output(str(out), ".png") as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_large_pair_gets_a_bar_over_the_score_tiles(tmp_path, monkeypatch):
    """liu2017 on a pair above ~1 Mpx: the progress bar counts its score tiles (4 for 1100x1100)."""
    import mfif.cli_fuse as cli_fuse

    bars = []

    class Recorder:
        def __init__(self, total, show, unit="frame", desc="fusing"):
            self.total, self.show, self.unit, self.updates = total, show, unit, 0
            bars.append(self)

        def __call__(self, n):
            self.updates += n

        def close(self):
            pass

    monkeypatch.setattr(cli_fuse, "_ProgressBar", Recorder)
    a, b, _, _ = synthetic.multifocus_pair(1100, 1100, seed=3)
    paths = [str(tmp_path / f"{n}.png") for n in "ab"]
    for p, img in zip(paths, (a, b)):
        io.write_image(p, io.from_float(img))
    r = run(*paths, "-o", str(tmp_path / "fused.png"), "--method", "liu2017", "--no-align")
    assert r.exit_code == 0, r.output
    tiles = [bar for bar in bars if bar.unit == "tile"]
    assert len(tiles) == 1 and tiles[0].show and tiles[0].total == 4 and tiles[0].updates == 4
