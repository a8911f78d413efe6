"""box_filter and guided_filter against the reference and OpenCV (r=8, eps=0.1)."""
import cv2
import pytest
import torch

from mfif import ops, reference as ref

from conftest import run

RADIUS, EPS = 8, 0.1


def _slow(size_name):
    # the pure-PyTorch references take seconds at the large sizes
    return 3 if size_name != "520x520" else None


@pytest.mark.parametrize("impl", ["mfif", "reference", "opencv"])
def test_box_filter(benchmark, size, threads, impl):
    name, (h, w) = size
    x = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(0))
    if impl == "mfif":
        run(benchmark, "box_filter", name, threads, impl, ops.box_filter, x, RADIUS)
    elif impl == "reference":
        run(benchmark, "box_filter", name, threads, impl, ref.box_filter, x, RADIUS, rounds=_slow(name))
    else:
        xn = x[0, 0].numpy()
        k = 2 * RADIUS + 1
        run(benchmark, "box_filter", name, threads, impl, cv2.boxFilter, xn, -1, (k, k))


@pytest.mark.parametrize("guide", ["gray", "colour"])
@pytest.mark.parametrize("impl", ["mfif", "reference", "opencv"])
def test_guided_filter(benchmark, size, threads, guide, impl):
    name, (h, w) = size
    gen = torch.Generator().manual_seed(0)
    g = torch.rand(1, 1 if guide == "gray" else 3, h, w, generator=gen)
    p = torch.rand(1, 1, h, w, generator=gen)
    op = f"guided_filter {guide}"
    if impl == "mfif":
        run(benchmark, op, name, threads, impl, ops.guided_filter, g, p, RADIUS, EPS)
    elif impl == "reference":
        run(benchmark, op, name, threads, impl, ref.guided_filter, g, p, RADIUS, EPS, rounds=_slow(name))
    else:
        if not hasattr(cv2, "ximgproc"):
            pytest.skip("cv2.ximgproc needs opencv-contrib-python-headless (install it in place of the plain wheel)")
        gn = g[0].permute(1, 2, 0).contiguous().numpy()
        if guide == "gray":
            gn = gn[..., 0]
        run(benchmark, op, name, threads, impl, cv2.ximgproc.guidedFilter, gn, p[0, 0].numpy(), RADIUS, EPS)
