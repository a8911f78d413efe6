"""connected_components and remove_small_regions: kernels vs the pure-PyTorch
references, vs scipy.ndimage / scikit-image, special shapes, threads, errors."""
import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from skimage.measure import label as sk_label
from skimage.morphology import remove_small_objects

import mfif
from mfif import ops, reference

CONNECTIVITIES = [4, 8]
STRUCTURE = {4: ndi.generate_binary_structure(2, 1), 8: np.ones((3, 3), dtype=bool)}
SK_CONNECTIVITY = {4: 1, 8: 2}


# ---------------------------------------------------------------- inputs ---
def random_mask(shape, p, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) < p


def noisy_mask(shape, seed, salt=0.05):
    """Thresholded smoothed noise plus salt-and-pepper: many regions of both polarities."""
    g = torch.Generator().manual_seed(seed)
    *batch, H, W = shape
    x = torch.rand((int(np.prod(batch, dtype=int)), 1, H, W), generator=g)
    x = F.avg_pool2d(x, 7, stride=1, padding=3, count_include_pad=False)
    mask = x > x.median()
    mask ^= torch.rand(mask.shape, generator=g) < salt
    return mask.reshape(shape)


def spiral(n):
    """A one-pixel-wide square spiral in an n x n image (a single long region):
    walk forward while the next cell and the one after it are free, else turn right."""
    m = np.zeros((n, n), dtype=bool)
    y, x, dy, dx = 0, 0, 0, 1
    m[0, 0] = True
    turns = 0
    while turns < 2:
        ny, nx, ay, ax = y + dy, x + dx, y + 2 * dy, x + 2 * dx
        free = 0 <= ny < n and 0 <= nx < n and not m[ny, nx]
        if free and not (0 <= ay < n and 0 <= ax < n and m[ay, ax]):
            y, x = ny, nx
            m[y, x] = True
            turns = 0
        else:
            dy, dx = dx, -dy
            turns += 1
    return m


def snake(h, w):
    """Rows of ones joined alternately at the right and left ends."""
    m = np.zeros((h, w), dtype=bool)
    m[::2] = True
    for k, y in enumerate(range(1, h, 2)):
        m[y, w - 1 if k % 2 == 0 else 0] = True
    return m


# ------------------------------------------------------------- baselines ---
def scipy_labels(mask, connectivity):
    m = mask.cpu().numpy()
    if m.ndim == 2:
        return ndi.label(m, structure=STRUCTURE[connectivity])[0]
    return np.stack([ndi.label(x, structure=STRUCTURE[connectivity])[0] for x in m])


def bwareaopen(m, min_area, connectivity):
    """MATLAB's bwareaopen with scikit-image (objects of <= max_size pixels go)."""
    if min_area <= 1:
        return m.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return remove_small_objects(m, max_size=min_area - 1, connectivity=SK_CONNECTIVITY[connectivity])
        except TypeError:  # scikit-image < 0.26: min_size, objects smaller than it go
            return remove_small_objects(m, min_size=min_area, connectivity=SK_CONNECTIVITY[connectivity])


def skimage_remove_small_regions(mask, min_area, connectivity):
    out = []
    for m in mask.cpu().numpy().reshape(-1, *mask.shape[-2:]):
        d = bwareaopen(m, min_area, connectivity)
        out.append(~bwareaopen(~d, min_area, connectivity))
    return np.stack(out).reshape(mask.shape)


def scipy_remove_small_regions(mask, min_area, connectivity):
    """The same, composed from scipy.ndimage.label and bincount."""

    def area_open(m):
        lab, _ = ndi.label(m, structure=STRUCTURE[connectivity])
        big = np.bincount(lab.ravel()) >= min_area
        big[0] = False
        return big[lab]

    out = [~area_open(~area_open(m)) for m in mask.cpu().numpy().reshape(-1, *mask.shape[-2:])]
    return np.stack(out).reshape(mask.shape)


# ----------------------------------------------------- vs the references ---
SHAPES = [(1, 1), (1, 17), (23, 1), (2, 2), (37, 53), (1, 40, 33), (3, 31, 29), (2, 1, 1), (70, 66)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
def test_connected_components_matches_reference(device, shape, connectivity):
    for seed, p in enumerate([0.3, 0.5, 0.7]):
        mask = random_mask(shape, p, seed).to(device)
        out = ops.connected_components(mask, connectivity)
        assert out.dtype == torch.int32 and out.shape == mask.shape and out.device == mask.device
        torch.testing.assert_close(out, reference.connected_components(mask, connectivity), rtol=0, atol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
def test_remove_small_regions_matches_reference(device, shape, connectivity):
    for seed, (p, min_area) in enumerate([(0.3, 3), (0.5, 5), (0.7, 2), (0.5, 12)]):
        mask = random_mask(shape, p, seed).to(device)
        out = ops.remove_small_regions(mask, min_area, connectivity)
        assert out.dtype == torch.bool and out.shape == mask.shape and out.device == mask.device
        torch.testing.assert_close(out, reference.remove_small_regions(mask, min_area, connectivity), rtol=0, atol=0)


@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
def test_non_contiguous_input(device, connectivity):
    base = random_mask((2, 45, 38), 0.5, 7).to(device)
    views = [base[0].t(), base[:, ::2, ::3], base.permute(0, 2, 1), base[1, 3:40:2, 1:]]
    for view in views:
        assert not view.is_contiguous()
        dense = view.contiguous()
        cc = ops.connected_components(view, connectivity)
        assert torch.equal(cc, ops.connected_components(dense, connectivity))
        assert torch.equal(cc, reference.connected_components(dense, connectivity))
        rsr = ops.remove_small_regions(view, 4, connectivity)
        assert torch.equal(rsr, ops.remove_small_regions(dense, 4, connectivity))
        assert torch.equal(rsr, reference.remove_small_regions(dense, 4, connectivity))


# ---------------------------------------------- vs scipy and scikit-image ---
@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
@pytest.mark.parametrize("shape", [(131, 257), (3, 96, 80), (1, 1, 300), (300, 1)], ids=str)
def test_connected_components_matches_scipy_and_skimage(device, shape, connectivity):
    for seed, mask in enumerate([noisy_mask(shape, 1), random_mask(shape, 0.55, 2), random_mask(shape, 0.3, 3)]):
        out = ops.connected_components(mask.to(device), connectivity).cpu().numpy()
        expected = scipy_labels(mask, connectivity)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, expected)
        items = mask.numpy().reshape(-1, *shape[-2:])
        sk = np.stack([sk_label(m, connectivity=SK_CONNECTIVITY[connectivity]) for m in items])
        np.testing.assert_array_equal(out.reshape(sk.shape), sk)
    assert expected.max() > 1  # the cases are not trivial


@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
@pytest.mark.parametrize("min_area", [2, 3, 7, 30, 400])
def test_remove_small_regions_matches_skimage_and_scipy(device, connectivity, min_area):
    for shape, seed in [((97, 203), 4), ((2, 64, 71), 5)]:
        mask = noisy_mask(shape, seed)
        out = ops.remove_small_regions(mask.to(device), min_area, connectivity).cpu().numpy()
        np.testing.assert_array_equal(out, skimage_remove_small_regions(mask, min_area, connectivity))
        np.testing.assert_array_equal(out, scipy_remove_small_regions(mask, min_area, connectivity))
        assert (out != mask.numpy()).any()  # something was removed or filled


@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
def test_remove_small_regions_second_pass_sees_the_first(device, connectivity):
    # A one-pixel island inside an 8-pixel ring of zeros, inside ones.
    mask = torch.ones(7, 7, dtype=torch.bool)
    mask[1:4, 1:4] = False
    mask[2, 2] = True
    hole = mask.clone()
    hole[2, 2] = False
    # min_area 9: the island goes, which makes the hole 9 pixels: it stays.
    # (Filling the 8-pixel ring first would have given all ones.)
    out = ops.remove_small_regions(mask.to(device), 9, connectivity).cpu()
    assert torch.equal(out, hole)
    assert torch.equal(ops.remove_small_regions(mask.to(device), 10, connectivity).cpu(), torch.ones_like(mask))
    assert torch.equal(ops.remove_small_regions(mask.to(device), 2, connectivity).cpu(), hole)
    for a in (2, 9, 10):
        np.testing.assert_array_equal(
            ops.remove_small_regions(mask, a, connectivity).numpy(),
            skimage_remove_small_regions(mask, a, connectivity),
        )


# ---------------------------------------------------------- special shapes ---
@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
def test_spiral_and_snake_are_one_region(device, connectivity):
    for m in [spiral(63), spiral(64), snake(101, 37), snake(96, 120).T.copy()]:
        mask = torch.from_numpy(m).to(device)
        labels = ops.connected_components(mask, connectivity)
        expected = scipy_labels(mask, connectivity)
        np.testing.assert_array_equal(labels.cpu().numpy(), expected)
        assert int(labels.max()) == 1
        np.testing.assert_array_equal(labels.cpu().numpy(), reference.connected_components(mask, connectivity).cpu())
        area = int(mask.sum())
        # Exactly big enough, the long region stays (the corridor of zeros may
        # be filled); one pixel short, it goes, and the all-zero image stays.
        out = ops.remove_small_regions(mask, area, connectivity)
        assert (out | ~mask).all()
        np.testing.assert_array_equal(out.cpu().numpy(), skimage_remove_small_regions(mask, area, connectivity))
        assert not ops.remove_small_regions(mask, area + 1, connectivity).any()


@pytest.mark.parametrize("connectivity", CONNECTIVITIES)
def test_u_shape_numbering(device, connectivity):
    # The U's right arm starts a provisional region before the dot (label 2);
    # the U is found to be one region only on its last row (and the pixel
    # under it joins it only diagonally).
    mask = torch.tensor(
        [
            [1, 0, 0, 0, 1, 0, 0],
            [1, 0, 1, 0, 1, 0, 1],
            [1, 0, 0, 0, 1, 0, 1],
            [1, 1, 1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1, 0],
        ],
        dtype=torch.bool,
    )
    top = [[1, 0, 0, 0, 1, 0, 0], [1, 0, 2, 0, 1, 0, 3], [1, 0, 0, 0, 1, 0, 3], [1, 1, 1, 1, 1, 0, 0]]
    expected = top + [[0, 0, 0, 0, 0, 4 if connectivity == 4 else 1, 0]]
    out = ops.connected_components(mask.to(device), connectivity)
    assert out.tolist() == expected
    # Comb: many arms from the top row merge only at the bottom.
    comb = torch.zeros(9, 21, dtype=torch.bool)
    comb[:, ::2] = True
    comb[-1] = True
    comb[0, 1] = True  # arms 0 and 1 already touch on the first row
    out = ops.connected_components(comb.to(device), connectivity)
    assert out.max() == 1
    np.testing.assert_array_equal(out.cpu().numpy(), scipy_labels(comb, connectivity))


def test_diagonal_touch_only_joins_with_8_connectivity(device):
    eye = torch.eye(5, dtype=torch.bool)
    cross = (eye | eye.flip(1)).to(device)
    assert int(ops.connected_components(cross, 8).max()) == 1
    assert int(ops.connected_components(cross, 4).max()) == 9  # 9 isolated pixels
    # A hole of zeros that reaches the outside only through a diagonal step
    # (at (2,2), between (1,1) and (3,3)): with 8-connectivity, also used for
    # the zeros, it is part of the background; with 4 it is a small hole.
    mask = torch.zeros(12, 12, dtype=torch.bool)
    mask[1:11, 1:11] = True
    mask[3:9, 3:9] = False
    mask[1, 1] = mask[2, 2] = False
    filled = torch.zeros_like(mask)
    filled[1:11, 1:11] = True
    filled[1, 1] = False
    assert torch.equal(ops.remove_small_regions(mask.to(device), 40, 8).cpu(), mask)
    assert torch.equal(ops.remove_small_regions(mask.to(device), 40, 4).cpu(), filled)


# ------------------------------------------------------ trivial min_area ---
def test_min_area_zero_one_and_huge(device):
    mask = noisy_mask((2, 33, 47), 9).to(device)
    for min_area in (0, 1):
        for c in CONNECTIVITIES:
            assert torch.equal(ops.remove_small_regions(mask, min_area, c), mask)
    # Every region of ones is too small, then the all-zero image is one region
    # of zeros, too small as well: MATLAB's bwareaopen pair gives all ones.
    for min_area in (33 * 47 + 1, 2**40):
        assert ops.remove_small_regions(mask, min_area, 8).all()
    assert torch.equal(ops.remove_small_regions(mask, 33 * 47, 8), torch.zeros_like(mask))


def test_all_set_and_all_clear(device):
    for shape in [(1, 1), (5, 70), (2, 3, 129)]:
        ones = torch.ones(shape, dtype=torch.bool, device=device)
        assert torch.equal(ops.connected_components(ones, 8), torch.ones(shape, dtype=torch.int32, device=device))
        assert torch.equal(ops.connected_components(~ones, 4), torch.zeros(shape, dtype=torch.int32, device=device))
        assert torch.equal(ops.remove_small_regions(ones, 3, 8), ones)


# -------------------------------------------------------------- threads ---
def test_independent_of_thread_count(device):
    inputs = [noisy_mask((300, 257), 11), noisy_mask((3, 130, 97), 12), noisy_mask((1, 1000, 64), 13, salt=0.0)]
    old = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(
                [
                    (ops.connected_components(m.to(device), c), ops.remove_small_regions(m.to(device), 20, c))
                    for m in inputs
                    for c in CONNECTIVITIES
                ]
            )
    finally:
        torch.set_num_threads(old)
    for other in results[1:]:
        for (cc0, rsr0), (cc1, rsr1) in zip(results[0], other):
            assert torch.equal(cc0, cc1) and torch.equal(rsr0, rsr1)
    # ... and right, whatever the band boundaries cut.
    for (cc, _), (m, c) in zip(results[-1], [(m, c) for m in inputs for c in CONNECTIVITIES]):
        np.testing.assert_array_equal(cc.cpu().numpy(), scipy_labels(m, c))


# ---------------------------------------------------- torch.library checks ---
def test_opcheck(device):
    masks = [random_mask((13, 17), 0.5, 1), random_mask((2, 9, 11), 0.4, 2), random_mask((11, 7), 0.5, 3).t()]
    for mask in masks:
        mask = mask.to(device)
        torch.library.opcheck(torch.ops.mfif.connected_components.default, (mask, 8))
        torch.library.opcheck(torch.ops.mfif.connected_components.default, (mask, 4))
        torch.library.opcheck(torch.ops.mfif.remove_small_regions.default, (mask, 3, 8))
        torch.library.opcheck(torch.ops.mfif.remove_small_regions.default, (mask, 2, 4))


def test_torch_compile_fullgraph(device):
    def fn(mask):
        return ops.connected_components(mask, 8), ops.remove_small_regions(mask, 4, 8)

    mask = random_mask((2, 19, 23), 0.5, 4).to(device)
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    cc, rsr = compiled(mask)
    assert torch.equal(cc, ops.connected_components(mask, 8))
    assert torch.equal(rsr, ops.remove_small_regions(mask, 4, 8))


# -------------------------------------------------------------- bad input ---
def test_bad_input():
    mask = random_mask((6, 7), 0.5, 0)
    with pytest.raises(ValueError, match=r"mask must have shape \[H,W\] or \[B,H,W\]"):
        ops.connected_components(mask[0])
    with pytest.raises(ValueError, match="mask must have shape"):
        ops.remove_small_regions(mask[None, None], 3)
    with pytest.raises(TypeError, match=r"mask must be a bool tensor, got torch.float32; .*mask\.bool\(\)"):
        ops.connected_components(mask.float())
    with pytest.raises(TypeError, match=r"mask\.bool\(\)"):
        ops.remove_small_regions(mask.to(torch.uint8), 3)
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        ops.connected_components(mask.numpy())
    for bad in (6, 0, -4):
        with pytest.raises(ValueError, match="connectivity must be 4 .* or 8"):
            ops.connected_components(mask, bad)
        with pytest.raises(ValueError, match="connectivity"):
            ops.remove_small_regions(mask, 3, bad)
    with pytest.raises(TypeError, match="connectivity must be an int"):
        ops.connected_components(mask, 8.0)
    with pytest.raises(ValueError, match="min_area must be >= 0, got -1"):
        ops.remove_small_regions(mask, -1)
    with pytest.raises(TypeError, match="min_area must be an int"):
        ops.remove_small_regions(mask, 2.5)
    for empty in (torch.zeros(0, 5, dtype=torch.bool), torch.zeros(2, 3, 0, dtype=torch.bool)):
        with pytest.raises(ValueError, match="mask is empty"):
            ops.connected_components(empty)
        with pytest.raises(ValueError, match="mask is empty"):
            ops.remove_small_regions(empty, 3)


def test_bad_input_direct_op_call():
    """torch.ops.mfif.* called directly: clear errors from the C++ checks, no crash."""
    mask = random_mask((6, 7), 0.5, 0)
    cc, rsr = torch.ops.mfif.connected_components, torch.ops.mfif.remove_small_regions
    with pytest.raises(RuntimeError, match=r"mask must be a bool tensor.*mask\.bool\(\)"):
        cc(mask.float(), 8)
    with pytest.raises(RuntimeError, match="mask must have shape"):
        rsr(mask[0], 3, 8)
    with pytest.raises(RuntimeError, match="connectivity must be 4 or 8, got 6"):
        cc(mask, 6)
    with pytest.raises(RuntimeError, match="connectivity must be 4 or 8"):
        rsr(mask, 3, 6)
    with pytest.raises(RuntimeError, match="min_area must be >= 0, got -2"):
        rsr(mask, -2, 8)
    for shape in [(0, 5), (3, 0), (0, 4, 4), (2, 0, 3)]:
        empty = torch.zeros(shape, dtype=torch.bool)
        assert cc(empty, 8).shape == shape and cc(empty, 8).dtype == torch.int32
        assert rsr(empty, 3, 4).shape == shape


def _reporting(device):
    class ReportsDevice(torch.Tensor):
        """A CPU tensor that claims to live elsewhere (tests the device check without a GPU)."""

        @property
        def device(self):
            return torch.device(device)

    return ReportsDevice


def test_device_without_kernels_is_refused():
    refused = ["mps"] + ([] if mfif.cuda_kernels_available() else ["cuda:0"])
    for device in refused:
        mask = random_mask((6, 7), 0.5, 0).as_subclass(_reporting(device))
        kind = device.split(":")[0]
        message = rf"mask is on {device}, but this build of mfif has no kernels for '{kind}'.*mask\.cpu\(\)"
        with pytest.raises(RuntimeError, match=message):
            ops.connected_components(mask)
        with pytest.raises(RuntimeError, match=rf"mask is on {device}"):
            ops.remove_small_regions(mask, 3)
    if torch.cuda.is_available() and not mfif.cuda_kernels_available():
        real = random_mask((6, 7), 0.5, 0).cuda()
        with pytest.raises(RuntimeError, match="mask is on cuda"):
            ops.connected_components(real)


def test_cuda_build_without_ccl_kernels_is_refused(monkeypatch):
    """A CUDA build of mfif whose CCL ops have no CUDA kernel: a clear error, not the dispatcher's."""
    import mfif.ops._checks as checks

    monkeypatch.setattr(checks, "WITH_CUDA", True)
    mask = random_mask((6, 7), 0.5, 0).as_subclass(_reporting("cuda:0"))
    for op in ("connected_components", "remove_small_regions"):
        has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key(f"mfif::{op}", "CUDA")
        fn = getattr(ops, op)
        args = (mask,) if op == "connected_components" else (mask, 3)
        if has_kernel:
            assert mfif.cuda_kernels_available()
        else:
            message = rf"mask is on cuda:0, but mfif has no CUDA kernel for {op}; .*mask\.cpu\(\)"
            with pytest.raises(RuntimeError, match=message):
                fn(*args)
