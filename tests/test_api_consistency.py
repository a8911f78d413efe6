"""The library's face: fresh method objects, tensors in/tensors out, one result class, warnings at the
caller's line, EXIF orientation and metadata, folder stacks, `import mfif` the same for every program."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import mfif
from mfif import io, synthetic
from mfif.fusion import StackError, expand_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- 1. method objects ------------------------------------------------------------------------

def test_get_returns_an_independent_method_object():
    m = mfif.methods.get("gff")
    m.r1 = 2
    assert mfif.methods.get("gff").r1 == 45 and mfif.methods.get("gff") is not m
    a, b, _, _ = synthetic.multifocus_pair(64, 64, seed=1)
    default = mfif.fuse([a, b], method="gff", align=False).fused
    assert np.array_equal(mfif.fuse([a, b], method=mfif.methods.get("gff"), align=False).fused, default)
    assert not np.array_equal(mfif.fuse([a, b], method=m, align=False).fused, default)


def test_every_registered_module_gives_fresh_copies():
    for name in mfif.methods.available():
        assert mfif.methods.get(name) is not mfif.methods.get(name), name


def test_method_classes_are_exported():
    from mfif.methods import GFF, FocusStack, Liu2017, PyramidStack

    assert GFF(r1=20).r1 == 20 and FocusStack().name == "focus" and PyramidStack().name == "pyramid"
    assert Liu2017().name == "liu2017"
    a, b = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    assert mfif.fuse(torch.stack([a[0], b[0]]), method=GFF(r1=20)).fused.shape == (3, 48, 48)


# --- 2. tensors and alignment -----------------------------------------------------------------

def test_tensor_batches_are_not_aligned_by_default():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails
        r = mfif.fuse(torch.rand(4, 5, 3, 64, 64), method="gff")
    assert r.alignment is None and "not aligned" in r.align_note and r.fused.shape == (4, 3, 64, 64)


def test_alignment_warnings_point_at_the_callers_line():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 3, 64, 64)  # noise: ECC cannot register it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mfif.fuse(x, method="gff", align=True)
    assert caught, "expected alignment warnings for frames of noise"
    assert all(w.filename == __file__ for w in caught), [(w.filename, w.lineno) for w in caught]


def test_untextured_frames_fuse_unaligned():
    flat = np.full((64, 80, 3), 128, np.uint8)
    r = mfif.fuse([flat, flat.copy()], method="gff")
    assert r.fused.shape == flat.shape and "no texture" in r.align_note
    with pytest.warns(mfif.align.AlignmentWarning, match="uniform"):
        forced = mfif.fuse([flat, flat.copy()], method="gff", align=True)
    assert np.array_equal(forced.fused, r.fused)


# --- 5. the alignment report --------------------------------------------------------------------

def test_a_skipped_alignment_reports_nothing_applied():
    import cv2

    a, b, _, _ = synthetic.multifocus_pair(128, 128, seed=2)
    # b moves by 0.6 px: more than the identity tolerance, less than the pair threshold (0.5 % of the diagonal)
    b = cv2.warpAffine(b, np.float32([[1, 0, 0.6], [0, 1, 0]]), (128, 128), borderMode=cv2.BORDER_REPLICATE)
    auto = mfif.fuse([a, b], method="gff")
    off = mfif.fuse([a, b], method="gff", align=False)
    assert auto.align_note.startswith("not aligned") and np.array_equal(auto.fused, off.fused)
    assert not auto.alignment.resampled.any() and not auto.alignment.exposure_applied.any()
    assert "--" not in auto.summary()  # no command-line option in the Python API's words


# --- 8. results -----------------------------------------------------------------------------------

def test_one_result_class_one_index_dtype_and_a_short_repr():
    from mfif.fusion.result import FuseResult
    from mfif.methods.base import FusionResult as PairResult
    from mfif.methods.streaming import StackResult

    assert FuseResult is PairResult is StackResult is mfif.FusionResult
    frames = [np.random.default_rng(i).random((40, 48, 3), dtype=np.float32) for i in range(3)]
    arrays = mfif.fuse(frames, method="focus", align=False)
    tensors = mfif.fuse([torch.from_numpy(f).permute(2, 0, 1) for f in frames], method="focus", align=False)
    stack = mfif.fuse(torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]), method="focus")
    assert arrays.index.dtype == np.int32 and tensors.index.dtype == stack.index.dtype == torch.int32
    assert isinstance(tensors.fused, torch.Tensor) and tensors.fused.shape == (3, 40, 48)
    torch.testing.assert_close(tensors.fused, stack.fused)
    text = repr(arrays)
    assert len(text) < 200 and "array (40, 48, 3)" in text and "[[" not in text


# --- 3. EXIF orientation and metadata -------------------------------------------------------------

def _portrait_jpeg(path, img, orientation=6, icc=b"\0" * 128):
    from PIL import Image

    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = orientation
    exif[0x010F] = "mfif test camera"
    im.save(path, exif=exif.tobytes(), icc_profile=icc, quality=95)


def test_exif_orientation_is_applied_and_metadata_carried(tmp_path):
    from PIL import Image, ImageOps

    a, b, _, _ = synthetic.multifocus_pair(96, 128, seed=3)
    paths = [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    for p, img in zip(paths, (a, b)):
        _portrait_jpeg(p, io.from_float(img))
    with Image.open(paths[0]) as im:
        upright = np.asarray(ImageOps.exif_transpose(im))  # Pillow's reading, independent of mfif's
    np.testing.assert_array_equal(io.read_image(paths[0]), upright)
    r = mfif.fuse(paths, method="gff")
    assert r.fused.shape == (128, 96, 3)  # portrait, as a viewer shows the sources
    out = str(tmp_path / "fused.jpg")
    io.write_image(out, r.fused, r.metadata)
    with Image.open(out) as im:
        exif = im.getexif()
        assert im.size == (96, 128) and exif.get(0x0112) == 1 and exif.get(0x010F) == "mfif test camera"
        assert im.info.get("icc_profile") == b"\0" * 128


# --- 4. folders -------------------------------------------------------------------------------

def test_folders_sort_naturally_and_leave_out_an_earlier_result(tmp_path):
    img = np.zeros((20, 30, 3), np.uint8)
    for i in (1, 2, 9, 10, 11):
        io.write_image(str(tmp_path / f"img_{i}.png"), img)
    io.write_image(str(tmp_path / "fused.png"), img)
    with pytest.warns(mfif.fusion.StackWarning, match="left out fused.png"):
        paths = expand_inputs([str(tmp_path)])
    assert [os.path.basename(p) for p in paths] == [f"img_{i}.png" for i in (1, 2, 9, 10, 11)]


def test_a_frame_of_odd_size_is_named(tmp_path):
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"f{i}.png"))
        io.write_image(paths[-1], np.zeros((20, 30, 3) if i != 2 else (40, 60, 3), np.uint8))
    with pytest.raises(StackError, match=r"f2\.png: 60x40.*other 3 frames are 30x20"):
        mfif.fuse(paths)


# --- 6. import mfif -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv0", ["-c", "mfif", "/usr/bin/mfif"])
def test_import_mfif_is_the_same_whatever_the_program(argv0):
    code = ("import sys; sys.argv[0] = %r\nimport mfif\n"
            "print('torch' in sys.modules or 'cv2' in sys.modules)\n"  # import mfif itself loads neither
            "print(all(hasattr(mfif, n) for n in ('io', 'models', 'pipeline', 'ops', 'methods', 'fuse')))\n"
            "import torch\nprint(hasattr(torch.ops.mfif, 'box_filter'))\n") % argv0
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__))))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True", "True"], r.stdout


def test_import_mfif_after_torch_registers_the_raw_ops():
    """Libraries that call torch.ops.mfif.* right after `import torch, mfif` find the ops."""
    code = ("import torch, mfif\nx = torch.rand(1, 1, 9, 9)\n"
            "print(torch.allclose(torch.ops.mfif.box_filter(x, 1, True), mfif.reference.box_filter(x, 1)))\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__))))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "True", (r.stdout, r.stderr)


def test_the_command_starts_without_torch():
    code = "import sys\nfrom mfif.cli import main\nprint('torch' in sys.modules)\n"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__))))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "False", (r.stdout, r.stderr)
