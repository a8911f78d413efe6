"""Stack fusion: the cost of one frame of a stack, per method, against an OpenCV pyramid.

Each benchmark streams 4 colour frames through a method (all its passes, the
finish included) and reports the time per frame. "opencv" is the same
Laplacian-pyramid selection as mfif's ``pyramid`` built from cv2.pyrDown /
cv2.pyrUp and numpy (per-coefficient energy at every level, no focus-guided
coarse levels, no depth map), the speed a user would get by writing it by hand.
Frames come from memory, so decoding is not counted.
"""
import cv2
import numpy as np
import pytest
import torch

from mfif.methods import get
from mfif.methods.streaming import fuse_frames

from conftest import run

N_FRAMES = 4


def _frames(hw):
    g = torch.Generator().manual_seed(0)
    return [torch.rand((1, 3) + hw, generator=g) for _ in range(N_FRAMES)]


def opencv_pyramid_fuse(frames, levels):
    """Laplacian-pyramid max-energy selection with OpenCV, frames [H, W, 3] float32."""
    best = energy = None
    top = 0
    for f in frames:
        g, laps = f, []
        for _ in range(levels):
            down = cv2.pyrDown(g)
            laps.append(g - cv2.pyrUp(down, dstsize=(g.shape[1], g.shape[0])))
            g = down
        top = top + g
        e = [cv2.blur(np.square(lap.mean(2)), (3, 3)) for lap in laps]
        if best is None:
            best, energy = laps, e
            continue
        for k in range(levels):
            better = e[k] > energy[k]
            best[k] = np.where(better[..., None], laps[k], best[k])
            energy[k] = np.maximum(energy[k], e[k])
    g = top / len(frames)
    for lap in reversed(best):
        g = cv2.pyrUp(g, dstsize=(lap.shape[1], lap.shape[0])) + lap
    return g


@pytest.mark.parametrize("impl", ["gff", "focus", "pyramid", "opencv"])
def test_stack_per_frame(benchmark, size, threads, impl):
    size_name, hw = size
    frames = _frames(hw)
    if impl == "opencv":
        arrays = [f[0].permute(1, 2, 0).contiguous().numpy() for f in frames]
        levels = get("pyramid").for_size(*hw).levels
        fn, args = opencv_pyramid_fuse, (arrays, levels)
    else:
        method = get(impl)
        method = method.for_size(*hw) if hasattr(method, "for_size") else method
        fn, args = fuse_frames, (method, frames)
    benchmark.extra_info["frames"] = N_FRAMES  # divide by it for the time per frame
    run(benchmark, f"stack of {N_FRAMES}", size_name, threads, impl, fn, *args, rounds=3)
