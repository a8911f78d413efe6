"""The bad-input table: one row per class of bad input to the ops, the API and both commands.

Every row asserts the exact outcome: the error's type and a message naming the problem;
for the commands exit status 1, one line ``Error: ...``, no traceback; and for every row
that the folder it works in is unchanged afterwards (every file hashed before and after,
hidden temporary files included), so nothing was written, left behind or overwritten.
A second table lists odd but valid inputs that must be fused, again without touching
any other file.
"""
from __future__ import annotations

import errno
import hashlib
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mfif
from mfif import io, synthetic
from mfif.cli import main
from mfif.fusion import StackError


def _png_bomb(path, side=100_000):
    """A valid PNG header claiming side x side pixels over a few bytes of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                + chunk(b"IEND", b""))


@pytest.fixture
def ws(tmp_path):
    """A workspace: a colour pair (8- and 16-bit), odd files, and a sources folder for `evaluate`."""
    a, b, _, _ = synthetic.multifocus_pair(96, 128, seed=1)
    p = lambda name: str(tmp_path / name)  # noqa: E731
    io.write_image(p("a.png"), io.from_float(a))
    io.write_image(p("b.png"), io.from_float(b))
    io.write_image(p("a16.png"), io.from_float(a, np.uint16))
    io.write_image(p("b.jpg"), io.from_float(b))
    io.write_image(p("grey.png"), io.from_float(a[..., 0]))
    io.write_image(p("small.png"), io.from_float(a[:50]))
    open(p("empty.png"), "wb").close()
    with open(p("text.png"), "w") as f:
        f.write("this is not an image\n")
    data = open(p("b.png"), "rb").read()
    open(p("cut.png"), "wb").write(data[: len(data) // 2])
    data = open(p("b.jpg"), "rb").read()
    open(p("cut.jpg"), "wb").write(data[: len(data) // 2])
    _png_bomb(p("bomb.png"))
    os.symlink(p("b.png"), p("link-to-b.png"))
    os.link(p("b.png"), p("hard-b.png"))
    (tmp_path / "nothing").mkdir()
    (tmp_path / "folder.png").mkdir()
    src = tmp_path / "src"
    src.mkdir()
    io.write_image(str(src / "s-A.png"), io.from_float(a))
    io.write_image(str(src / "s-B.png"), io.from_float(b))
    res = tmp_path / "res"
    res.mkdir()
    io.write_image(str(res / "s.png"), io.from_float(np.maximum(a, b)))
    (tmp_path / "res2").mkdir()
    io.write_image(str(tmp_path / "res2" / "s-gff.png"), io.from_float(np.maximum(a, b)))
    bad = tmp_path / "badres"
    bad.mkdir()
    io.write_image(str(bad / "s.png"), io.from_float(a[:40]))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "s.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return tmp_path


def _snapshot(folder) -> dict[str, str]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


# ---- the commands: (id, arguments with {ws} for the workspace, message) ----
FUSE = "fuse {ws}/a.png {ws}/b.png -m gff"
CLI_ROWS = [
    # files
    ("zero-byte file", "fuse {ws}/a.png {ws}/empty.png -o {ws}/out.png", "empty.png: not an image"),
    ("truncated png", "fuse {ws}/a.png {ws}/cut.png -o {ws}/out.png", "cut.png: not an image"),
    ("truncated jpeg", "fuse {ws}/b.jpg {ws}/cut.jpg -o {ws}/out.png", "cut.jpg: the JPEG is truncated"),
    ("text named .png", "fuse {ws}/a.png {ws}/text.png -o {ws}/out.png", "text.png: not an image"),
    ("decompression-bomb header", "fuse {ws}/a.png {ws}/bomb.png -o {ws}/out.png",
     "bomb.png: its header claims 100000x100000"),
    ("missing file", "fuse {ws}/a.png {ws}/nope.png -o {ws}/out.png", "nope.png: no such file"),
    ("one frame", "fuse {ws}/a.png -o {ws}/out.png", "at least two frames"),
    ("empty folder", "fuse {ws}/nothing -o {ws}/out.png", "holds no images"),
    ("glob matching nothing", "fuse {ws}/zz*.png -o {ws}/out.png", "matches no file"),
    ("sizes differ", "fuse {ws}/a.png {ws}/small.png -o {ws}/out.png", "same size"),
    ("grey and colour mixed", "fuse {ws}/a.png {ws}/grey.png -o {ws}/out.png", "grey"),
    ("8- and 16-bit mixed", "fuse {ws}/a.png {ws}/a16.png -o {ws}/out.png", "same bit depth"),
    # outputs
    ("output is an input", FUSE + " -o {ws}/b.png", "never overwrites an input"),
    ("output is an input, other spelling", FUSE + " -o {ws}/nothing/../b.png", "never overwrites an input"),
    ("output is a symlink to an input", FUSE + " -o {ws}/link-to-b.png", "never overwrites an input"),
    ("output is a hard link to an input", FUSE + " -o {ws}/hard-b.png", "never overwrites an input"),
    ("depth map is an input", FUSE + " -o {ws}/out.png --depth-map {ws}/a.png", "never overwrites an input"),
    ("depth map is the output", FUSE + " -o {ws}/out.png --depth-map {ws}/out.png", "the same file"),
    ("transforms file is an input", FUSE + " -o {ws}/out.png --transforms {ws}/a.png", "never overwrites an input"),
    ("transforms file is the output", FUSE + " -o {ws}/out.png --transforms {ws}/out.png", "the same file"),
    ("output folder missing", FUSE + " -o {ws}/no/out.png", "does not exist"),
    ("output unwritable", FUSE + " -o /proc/out.png", "cannot write in /proc"),
    ("output is a folder", FUSE + " -o {ws}/folder.png", "is a folder"),
    ("unknown extension", FUSE + " -o {ws}/out.xyz", "unknown image format '.xyz'"),
    ("no extension", FUSE + " -o {ws}/out", "unknown image format"),
    ("16 bits into jpeg", "fuse {ws}/a16.png {ws}/a16.png -o {ws}/out.jpg", "8 bits only"),
    # options
    ("cuda without cuda", FUSE + " -o {ws}/out.png --device cuda", "no CUDA"),
    ("tile 0", FUSE + " -o {ws}/out.png --tile 0", "tile must be a positive number"),
    ("tile not a number", FUSE + " -o {ws}/out.png --tile big", "give a number of pixels"),
    # mfif evaluate
    ("evaluate: csv is a source", "evaluate {ws}/src -f {ws}/res --csv {ws}/src/s-A.png", "never overwrites an input"),
    ("evaluate: csv is a source, other spelling", "evaluate {ws}/src -f {ws}/res --csv {ws}/res/../src/s-B.png",
     "never overwrites an input"),
    ("evaluate: csv is a fused result", "evaluate {ws}/src -f {ws}/res --csv {ws}/res/s.png", "never overwrites an input"),
    ("evaluate: csv folder missing", "evaluate {ws}/src -f {ws}/res --csv {ws}/no/x.csv", "does not exist"),
    ("evaluate: csv unwritable", "evaluate {ws}/src -f {ws}/res --csv /proc/x.csv", "cannot write in /proc"),
    ("evaluate: saved result is a fused result", "evaluate {ws}/src -f {ws}/res2 -m gff --save-fused {ws}/res2",
     "never overwrites an input"),
    ("evaluate: sizes differ", "evaluate {ws}/src -f {ws}/badres --metrics QG", "size mismatch"),
    ("evaluate: corrupt result", "evaluate {ws}/src -f {ws}/corrupt --metrics QG", "s.png: not an image"),
    ("evaluate: cuda without cuda", "evaluate {ws}/src -f {ws}/res --device cuda", "no CUDA"),
]


def _cli(ws, spec):
    args = [a.replace("{ws}", str(ws)) for a in spec.split()]
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("spec, message", [r[1:] for r in CLI_ROWS], ids=[r[0] for r in CLI_ROWS])
def test_command_refuses_bad_input_in_one_line(ws, spec, message):
    if "--device cuda" in spec and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = _snapshot(ws)
    r = _cli(ws, spec)
    assert r.exit_code == 1 and type(r.exception) is SystemExit, (r.exit_code, r.exception, r.output)
    lines = r.output.strip().splitlines()
    assert "Traceback" not in r.output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], r.output
    assert _snapshot(ws) == before  # nothing written, left behind, changed or removed


@pytest.mark.parametrize("spec, choices", [
    (FUSE + " -o {ws}/out.png -m nope", "'liu2017'"),
    (FUSE + " -o {ws}/out.png --device tpu", "'cpu'"),
], ids=["unknown method", "unknown device"])
def test_command_refuses_an_unknown_choice_as_a_usage_error(ws, spec, choices):
    """--method and --device have fixed choices: a wrong one is click's usage error (exit status 2, the
    conventional status for a bad command line), naming the choices, with nothing written."""
    before = _snapshot(ws)
    r = _cli(ws, spec)
    assert r.exit_code == 2 and type(r.exception) is SystemExit, (r.exit_code, r.exception, r.output)
    assert "Traceback" not in r.output
    assert "Error: Invalid value for" in r.output and choices in r.output, r.output
    assert _snapshot(ws) == before


def test_full_disk_is_reported_as_such_and_leaves_nothing(ws, monkeypatch):
    """A write that fails with ENOSPC (an OS error, as a full disk gives) names the system's reason."""
    real_open = open

    def full_disk(path, mode="r", *args, **kw):
        if "w" in mode and os.path.basename(str(path)).startswith(".mfif-"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, mode, *args, **kw)

    monkeypatch.setattr(io, "open", full_disk, raising=False)
    before = _snapshot(ws)
    r = _cli(ws, FUSE + " -o {ws}/out.png --depth-map {ws}/depth.png")
    assert r.exit_code == 1 and type(r.exception) is SystemExit, r.output
    assert r.output.strip() == f"Error: {ws}/out.png: cannot write: No space left on device"
    assert _snapshot(ws) == before
    import mfif.cli_evaluate as cli_evaluate

    monkeypatch.setattr(cli_evaluate, "open", full_disk, raising=False)
    r = _cli(ws, "evaluate {ws}/src -f {ws}/res --metrics QMI --csv {ws}/x.csv")
    assert r.exit_code == 1 and r.output.strip().splitlines()[-1] == \
        f"Error: {ws}/x.csv: cannot write: No space left on device", r.output
    assert _snapshot(ws) == before


# ---- the API: (id, frames/arguments builder, exception, message) ----
def _f(h=32, w=40, c=3, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


def _t(*shape):
    return torch.rand(*shape)


API_ROWS = [
    ("meta tensor frames", lambda ws: dict(images=[torch.empty(3, 8, 8, device="meta")] * 2), StackError, "meta tensor"),
    ("meta stack tensor", lambda ws: dict(images=torch.empty(2, 3, 8, 8, device="meta")), StackError, "meta tensor"),
    ("mixed devices", lambda ws: dict(images=[_t(3, 8, 8), torch.empty(3, 8, 8, device="meta")]), StackError,
     "image 2: a meta tensor"),
    ("NaN frame", lambda ws: dict(images=[_f(), np.where(_f() > 0.5, np.nan, _f()).astype(np.float32)]), StackError,
     "image 2 contains NaN or Inf"),
    ("Inf stack tensor", lambda ws: dict(images=torch.stack([_t(3, 8, 8), torch.full((3, 8, 8), float("inf"))])),
     StackError, "NaN or Inf"),
    ("floats on the 0..255 scale", lambda ws: dict(images=[_f() * 255, _f(seed=1) * 255]), StackError,
     "divide 8-bit values by 255"),
    ("negative floats", lambda ws: dict(images=[_f() - 1, _f()]), StackError, "must be in [0, 1]"),
    ("empty frame", lambda ws: dict(images=[np.zeros((0, 5, 3), np.float32)] * 2), StackError, "empty"),
    ("empty stack tensor", lambda ws: dict(images=torch.zeros(2, 3, 0, 4)), StackError, "empty"),
    ("exhausted generator", lambda ws: dict(images=(x for x in [])), StackError, "got 0 image(s)"),
    ("generator of one frame", lambda ws: dict(images=(x for x in [_f()])), StackError, "got 1 image(s)"),
    ("int64 frames", lambda ws: dict(images=[np.zeros((8, 8), np.int64)] * 2), StackError, "int64 frames are not"),
    ("five-channel frame", lambda ws: dict(images=[np.zeros((8, 8, 5), np.uint8)] * 2), StackError, "C = 1 or 3"),
    ("integer stack tensor", lambda ws: dict(images=torch.zeros(2, 3, 8, 8, dtype=torch.uint8)), StackError,
     "float in [0, 1]"),
    ("a batch as one array", lambda ws: dict(images=np.zeros((2, 8, 8, 3), np.float32)), StackError, "as a list"),
    ("not a frame", lambda ws: dict(images=[_f(), 3.5]), StackError, "expected a path"),
    ("unknown method", lambda ws: dict(images=[_f(), _f()], method="nope"), StackError, "unknown or unavailable"),
    ("unknown device", lambda ws: dict(images=[_f(), _f()], device="tpu"), StackError, "not a device|not supported"),
    ("negative tile", lambda ws: dict(images=[_f(), _f()], method="focus", tile=-1), StackError, "positive number"),
    ("float tile", lambda ws: dict(images=[_f(), _f()], method="focus", tile=64.5), StackError, "positive number"),
    ("unknown align mode", lambda ws: dict(images=[_f(), _f()], align="sideways"), ValueError, "align must be"),
    ("unicode path missing", lambda ws: dict(images=[str(ws / "a.png"), str(ws / "ünïcødé-ß.png")]), StackError,
     "ünïcødé-ß.png: no such file"),
    ("decompression-bomb header", lambda ws: dict(images=[str(ws / "bomb.png"), str(ws / "bomb.png")]), StackError,
     "decompression bomb"),
]


@pytest.mark.parametrize("build, error, message", [r[1:] for r in API_ROWS], ids=[r[0] for r in API_ROWS])
def test_api_refuses_bad_input_clearly(ws, build, error, message):
    kwargs = build(ws)
    kwargs.setdefault("align", "off")
    before = _snapshot(ws)
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)") if "|" not in message else message) as info:
        mfif.fuse(**kwargs)
    assert "\n" not in str(info.value)  # one line
    assert _snapshot(ws) == before


# ---- the ops: (id, call, exception, message) ----
def _ops():
    from mfif import ops
    return ops


OPS_ROWS = [
    ("box_filter: NaN", lambda: _ops().box_filter(torch.full((1, 1, 8, 8), float("nan")), 2), RuntimeError, "NaN or Inf"),
    ("box_filter: negative radius", lambda: _ops().box_filter(_t(1, 1, 8, 8), -1), ValueError, "radius"),
    ("box_filter: integer image", lambda: _ops().box_filter(torch.zeros(1, 1, 8, 8, dtype=torch.int32), 1),
     (TypeError, ValueError), "float"),
    ("remove_small_regions: float mask", lambda: _ops().remove_small_regions(_t(1, 8, 8), 3), TypeError,
     "must be a bool tensor"),
    ("nps_loss: shapes differ", lambda: _ops().nps_loss(_t(1, 1, 8, 8), _t(1, 1, 9, 8)), ValueError, "same shape"),
    ("guided_filter: shapes differ", lambda: _ops().guided_filter(_t(1, 1, 8, 8), _t(1, 1, 9, 8), 2, 0.1), ValueError,
     "size|shape"),
    ("guided_filter: eps not positive", lambda: _ops().guided_filter(_t(1, 1, 8, 8), _t(1, 1, 8, 8), 2, -1.0),
     ValueError, "eps"),
    ("guided_filter: meta and cpu", lambda: _ops().guided_filter(_t(1, 1, 8, 8), torch.empty(1, 1, 8, 8, device="meta"),
                                                                  2, 0.1), (ValueError, RuntimeError), "device|meta"),
    ("patch_mean: size not a pair", lambda: _ops().patch_mean(_t(1, 2, 8, 8), 0), TypeError, "size must be a pair"),
]


@pytest.mark.parametrize("call, error, message", [r[1:] for r in OPS_ROWS], ids=[r[0] for r in OPS_ROWS])
def test_ops_refuse_bad_input_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_table_has_forty_classes():
    assert len(CLI_ROWS) + len(API_ROWS) + len(OPS_ROWS) >= 40


# ---- odd but valid inputs: fused, nothing else touched ----
def _palette(ws):
    from PIL import Image

    Image.open(ws / "b.png").convert("P", palette=Image.ADAPTIVE).save(ws / "pal.png")
    return [ws / "a.png", ws / "pal.png"]


def _rgba(ws):
    from PIL import Image

    Image.open(ws / "b.png").convert("RGBA").save(ws / "rgba.png")
    return [ws / "a.png", ws / "rgba.png"]


def _cmyk(ws):
    from PIL import Image

    Image.open(ws / "b.png").convert("CMYK").save(ws / "cmyk.jpg")
    return [ws / "b.jpg", ws / "cmyk.jpg"]


def _exif_rotated(ws):
    from PIL import Image

    for name in ("a", "b"):
        im = Image.open(ws / f"{name}.png")
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
        im.save(ws / f"{name}-rot.jpg", exif=exif.tobytes(), quality=95)
    return [ws / "a-rot.jpg", ws / "b-rot.jpg"]


def _unicode(ws):
    folder = ws / "été ünïcødé"
    folder.mkdir()
    for name in ("a", "b"):
        os.link(ws / f"{name}.png", folder / f"{name}-ß.png")
    return [folder / "a-ß.png", folder / "b-ß.png"]


@pytest.mark.parametrize("make", [_palette, _rgba, _cmyk, _exif_rotated, _unicode],
                         ids=["palette png", "rgba png", "cmyk jpeg", "exif-rotated jpeg", "unicode paths"])
def test_odd_but_valid_inputs_are_fused(ws, make):
    inputs = [str(p) for p in make(ws)]
    out = str(ws / "fused ünï.png")
    before = _snapshot(ws)
    r = CliRunner().invoke(main, ["fuse", *inputs, "-m", "gff", "-q", "-o", out])
    assert r.exit_code == 0, r.output
    fused = io.read_image(out)
    assert fused.ndim == 3 and fused.shape[2] == 3
    after = _snapshot(ws)
    assert after.pop(os.path.basename(out)) and after == before  # only the output was added
