"""SIGINT and SIGTERM in the middle of a stack fusion: no partial output, no temporary file, status 130/143."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import mfif
from mfif import io

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(mfif.__file__)))  # the mfif under test


def _stack(folder, n=10, side=1200):
    """Frames of one noise scene blurred by different amounts (large enough that fusing them takes seconds)."""
    folder.mkdir()
    base = np.random.default_rng(0).random((side, side), dtype=np.float32)
    for i in range(n):
        io.write_image(str(folder / f"frame{i:02d}.png"), io.from_float(cv2.GaussianBlur(base, (0, 0), 0.5 + i)))


def _hashes(folder):
    return {p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest() for p in os.listdir(folder)}


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupted_stack_fusion_leaves_nothing(tmp_path, sig, status):
    stack, tmp, out_dir = tmp_path / "stack", tmp_path / "tmp", tmp_path / "out"
    _stack(stack)
    tmp.mkdir()
    out_dir.mkdir()
    before = _hashes(stack)
    out = out_dir / "fused.png"
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=PACKAGE_ROOT)
    # tiles make the fusion decode the frames into a temporary folder first: the signal comes once
    # that folder exists, in the middle of the work; SIGINT is reset to its default in the child,
    # as a test runner started in the background may ignore it
    proc = subprocess.Popen([sys.executable, "-m", "mfif", "fuse", str(stack), "-o", str(out), "--depth-map",
                             str(out_dir / "depth.png"), "--tile", "256", "--no-align", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not any(n.startswith("mfif-spill-") for n in os.listdir(tmp)):
            assert proc.poll() is None, f"the fusion ended before it could be interrupted: {proc.communicate()}"
            assert time.monotonic() < deadline, "the fusion never started its temporary folder"
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the fusion ended before it could be interrupted"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, stderr
    assert stdout == ""
    assert stderr.strip().splitlines() == [f"mfif: interrupted by {sig.name}; no partial output or temporary file "
                                           "is left"], stderr
    assert os.listdir(out_dir) == []  # no output, no .mfif- temporary
    assert os.listdir(tmp) == []      # the decoded frames are gone too
    assert _hashes(stack) == before
