"""connected_components and remove_small_regions vs the reference and the
usual compositions (OpenCV, scipy, scikit-image).

Input: a noisy binary focus map, thousands of small regions of both
polarities (thresholded smoothed noise plus 5% salt-and-pepper, seeded).
min_area follows Liu et al. 2017: 1% of the image area. 8-connectivity
(MATLAB's default for bwareaopen).

    PYTHONPATH=python pytest benchmarks/bench_ccl.py -k "1920x1080 and t1" --benchmark-min-rounds=5
"""
import warnings

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from conftest import run

from mfif import ops, reference

try:  # not among the bench extras
    from skimage.measure import label as sk_label
    from skimage.morphology import remove_small_objects
except ImportError:  # pragma: no cover
    sk_label = remove_small_objects = None

CONNECTIVITY = 8
STRUCTURE_8 = np.ones((3, 3), dtype=bool)
# The reference takes 1-2 s per call at 1920x1080 (a few rounds) and 10-20 s
# at 4K (skipped).
REFERENCE_ROUNDS = {"520x520": 5, "1920x1080": 3}


def noisy_map(hw, seed=0, salt=0.05):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((1, 1, *hw), generator=g)
    x = F.avg_pool2d(x, 7, stride=1, padding=3, count_include_pad=False)[0, 0]
    mask = x > x.median()
    return mask ^ (torch.rand(hw, generator=g) < salt)


@pytest.fixture(scope="module")
def maps():
    cache = {}

    def get(hw):
        if hw not in cache:
            cache[hw] = noisy_map(hw)
        return cache[hw]

    return get


def min_area_for(hw):
    return int(0.01 * hw[0] * hw[1])


# ------------------------------------------------------------- baselines ---
def cc_opencv(mask):
    _, labels = cv2.connectedComponents(mask.numpy().view(np.uint8), connectivity=CONNECTIVITY, ltype=cv2.CV_32S)
    return torch.from_numpy(labels)


def cc_scipy(mask):
    return torch.from_numpy(ndi.label(mask.numpy(), structure=STRUCTURE_8)[0])


def cc_skimage(mask):
    return torch.from_numpy(sk_label(mask.numpy(), connectivity=2))


def _area_open_opencv(m_u8, min_area):
    _, labels, stats, _ = cv2.connectedComponentsWithStats(m_u8, connectivity=CONNECTIVITY, ltype=cv2.CV_32S)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return np.take(keep, labels)


def rsr_opencv(mask, min_area):
    d = _area_open_opencv(mask.numpy().view(np.uint8), min_area)
    return torch.from_numpy(~_area_open_opencv((~d).view(np.uint8), min_area))


def _area_open_scipy(m, min_area):
    labels, _ = ndi.label(m, structure=STRUCTURE_8)
    keep = np.bincount(labels.ravel()) >= min_area
    keep[0] = False
    return np.take(keep, labels)


def rsr_scipy(mask, min_area):
    d = _area_open_scipy(mask.numpy(), min_area)
    return torch.from_numpy(~_area_open_scipy(~d, min_area))


def _area_open_skimage(m, min_area):
    try:
        return remove_small_objects(m, max_size=min_area - 1, connectivity=2)
    except TypeError:  # scikit-image < 0.26: min_size, objects smaller than it go
        return remove_small_objects(m, min_size=min_area, connectivity=2)


def rsr_skimage(mask, min_area):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = _area_open_skimage(mask.numpy(), min_area)
        return torch.from_numpy(~_area_open_skimage(~d, min_area))


CC_IMPLS = {
    "mfif": lambda m: ops.connected_components(m, CONNECTIVITY),
    "reference": lambda m: reference.connected_components(m, CONNECTIVITY),
    "opencv": cc_opencv,
    "scipy": cc_scipy,
    "skimage": cc_skimage,
}
RSR_IMPLS = {
    "mfif": lambda m, a: ops.remove_small_regions(m, a, CONNECTIVITY),
    "reference": lambda m, a: reference.remove_small_regions(m, a, CONNECTIVITY),
    "opencv": rsr_opencv,
    "scipy": rsr_scipy,
    "skimage": rsr_skimage,
}


def _rounds(impl, size_name):
    if impl == "skimage" and sk_label is None:
        pytest.skip("scikit-image is not installed")
    if impl != "reference":
        return None
    if size_name not in REFERENCE_ROUNDS:
        pytest.skip(f"the pure-PyTorch reference takes 10-20 s per call at {size_name}")
    return REFERENCE_ROUNDS[size_name]


@pytest.mark.parametrize("impl", list(CC_IMPLS))
def test_connected_components(benchmark, maps, size, threads, impl):
    size_name, hw = size
    rounds = _rounds(impl, size_name)
    mask = maps(hw)
    out = run(benchmark, "connected_components", size_name, threads, impl, CC_IMPLS[impl], mask, rounds=rounds)
    # Numbering orders differ (OpenCV's), the regions do not.
    n_regions = int(ops.connected_components(mask, CONNECTIVITY).max())
    assert out.shape == mask.shape and int(out.max()) == n_regions > 1000


@pytest.mark.parametrize("impl", list(RSR_IMPLS))
def test_remove_small_regions(benchmark, maps, size, threads, impl):
    size_name, hw = size
    rounds = _rounds(impl, size_name)
    mask = maps(hw)
    min_area = min_area_for(hw)
    fn = RSR_IMPLS[impl]
    out = run(benchmark, "remove_small_regions", size_name, threads, impl, fn, mask, min_area, rounds=rounds)
    # Every implementation computes the same mask.
    assert torch.equal(out, ops.remove_small_regions(mask, min_area, CONNECTIVITY))
