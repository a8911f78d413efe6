"""`mfif evaluate`: grouping, result lookup, methods, CSV, warnings and errors (small generated images)."""
import csv

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mfif import io
from mfif import metrics as M
from mfif.cli import main
from mfif.methods import FusionResult


def _pair(seed, size=40):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    b = a.copy()
    b[:, size // 2:] = (a[:, size // 2:] // 2 + 40).astype(np.uint8)
    return a, b


@pytest.fixture
def folders(tmp_path):
    src, res = tmp_path / "src", tmp_path / "res"
    src.mkdir()
    res.mkdir()
    for i in (1, 2):
        a, b = _pair(i)
        io.write_image(str(src / f"scene-{i:02d}-A.png"), a)
        io.write_image(str(src / f"scene-{i:02d}-B.png"), b)
        io.write_image(str(res / f"scene-{i:02d}-mine.png"), np.maximum(a, b))
    return src, res


def test_table_csv_and_values(folders, tmp_path):
    src, res = folders
    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(main, ["evaluate", str(src), "-f", str(res), "--metrics", "QMI,QG", "--csv", str(out)])
    assert r.exit_code == 0, r.output
    assert "scene-01" in r.output and "mean" in r.output
    rows = list(csv.DictReader(out.open()))
    assert [row["image"] for row in rows] == ["scene-01", "scene-02", "mean"]
    a, b = _pair(1)
    want = M.evaluate(a, b, np.maximum(a, b), metrics=["QMI", "QG"])
    assert float(rows[0]["QMI"]) == pytest.approx(want["QMI"], rel=1e-12)
    assert float(rows[2]["QG"]) == pytest.approx((float(rows[0]["QG"]) + float(rows[1]["QG"])) / 2, rel=1e-12)


def test_template_and_jpeg_warning(folders, tmp_path):
    src, _ = folders
    jdir = tmp_path / "jpeg"
    jdir.mkdir()
    for i in (1, 2):
        a, b = _pair(i)
        io.write_image(str(jdir / f"scene-{i:02d}-x.jpg"), np.maximum(a, b))
    r = CliRunner().invoke(main, ["evaluate", str(src), "-f", str(jdir / "{name}-x.jpg"), "--metrics", "QMI"])
    assert r.exit_code == 0, r.output
    assert "JPEG" in r.output


def test_method_runs_and_saves(folders, tmp_path, monkeypatch):
    src, _ = folders

    class Max:
        name = "max"

        def fuse_pair(self, a, b):
            return FusionResult(fused=torch.maximum(a, b), weights=(a >= b).float()[:, 0])

    import mfif.methods as methods
    monkeypatch.setattr(methods, "get", lambda name: Max())
    saved = tmp_path / "saved"
    r = CliRunner().invoke(main, ["evaluate", str(src), "-m", "max", "--metrics", "QMI", "--save-fused", str(saved)])
    assert r.exit_code == 0, r.output
    assert (saved / "scene-01-max.png").exists()
    a, b = _pair(1)
    assert np.array_equal(io.read_image(str(saved / "scene-01-max.png")), np.maximum(a, b))


def test_errors(folders, tmp_path):
    src, res = folders
    runner = CliRunner()
    r = runner.invoke(main, ["evaluate", str(src), "-m", "no-such-method"])
    assert r.exit_code != 0 and "unknown fusion method" in r.output
    r = runner.invoke(main, ["evaluate", str(src)])
    assert r.exit_code != 0 and "--fused" in r.output
    r = runner.invoke(main, ["evaluate", str(src), "-f", str(res), "--metrics", "QXX"])
    assert r.exit_code != 0 and "unknown metric" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(main, ["evaluate", str(empty), "-f", str(res)])
    assert r.exit_code != 0 and "no source groups" in r.output
