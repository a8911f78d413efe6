"""mfif.align: the estimate (ECC pyramid vs OpenCV's ECC alone, chain vs direct) and the warp
(OpenCV on uint8 / float32 vs torch grid_sample) on 2048x1536 frames.

Run: pytest benchmarks/bench_align.py --benchmark-json=benchmarks/align.json
The estimate benchmarks read the pcb stack from ../shared/data (skipped without it).
"""
import glob
import os

import cv2
import numpy as np
import pytest
import torch

from mfif import align, synthetic
from mfif.align import _frames

from conftest import run

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "focus_stack_pcb", "stack7")
STACK = sorted(glob.glob(os.path.join(DATA, "pcb_*.jpg")))
needs_data = pytest.mark.skipif(not STACK, reason="needs ../shared/data/focus_stack_pcb/stack7")
SIZE = "2048x1536"


@needs_data
@pytest.mark.parametrize("strategy", align.STRATEGIES)
def test_estimate_stack7(benchmark, threads, strategy):
    # the whole estimate pass: reduced JPEG decodes, ECC pyramid per frame, exposure gains
    run(benchmark, "align.estimate stack7", SIZE, threads, strategy, align.estimate, STACK, strategy=strategy,
        rounds=3)


@needs_data
@pytest.mark.parametrize("impl", ["mfif pyramid", "opencv ecc at 1/4"])
def test_ecc_pair(benchmark, threads, impl):
    # one pair of stack7 (frames 1 and 4, 1.7 % apart in scale) at the estimate's size (512x384)
    small = [_frames.grey(_frames.load_small(p, 4, 3)) for p in (STACK[3], STACK[0])]
    if impl == "mfif pyramid":
        run(benchmark, "ecc pair", "512x384", threads, impl, align.ecc_pair, small[0], small[1], None, "similarity",
            fine_gauss=1, fine_iterations=5, rounds=5)
    else:
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-5)

        def plain():
            return cv2.findTransformECC(small[0], small[1], np.eye(2, 3, dtype=np.float32), cv2.MOTION_AFFINE,
                                        crit, None, 5)
        run(benchmark, "ecc pair", "512x384", threads, impl, plain, rounds=5)


@pytest.fixture(scope="module")
def frame():
    f = synthetic.dead_leaves(384, 512, seed=0)
    return cv2.resize(f, (2048, 1536), interpolation=cv2.INTER_CUBIC)


T = np.array([[1.02, 0.001, -18.0], [-0.001, 1.02, -26.0], [0, 0, 1]])


@pytest.mark.parametrize("impl", ["opencv uint8", "opencv float32", "torch grid_sample float32",
                                  "tensor via opencv float32"])
def test_warp(benchmark, threads, frame, impl):
    if impl == "opencv uint8":
        x = (frame * 255).astype(np.uint8)
        run(benchmark, "warp", SIZE, threads, impl, align.warp_array, x, T)
    elif impl == "opencv float32":
        run(benchmark, "warp", SIZE, threads, impl, align.warp_array, frame, T)
    else:
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].contiguous()
        backend = "torch" if impl.startswith("torch") else "opencv"
        run(benchmark, "warp", SIZE, threads, impl, align.warp_tensor, x, T, backend=backend)
