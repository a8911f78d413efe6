"""mfif.fuse and the stack driver: inputs of every kind, streaming memory, tiles, depth maps, 16 bits."""
import weakref

import cv2
import numpy as np
import pytest
import torch

import mfif
from mfif import io, synthetic
from mfif.fusion import StackError, run_stack
from mfif.fusion.stack import SequentialPairs, as_streaming
from mfif.methods import get


def band_stack(n, height=96, width=128, seed=0, sigma=3.0):
    """n frames of one dead-leaves scene, frame k sharp on the k-th vertical band only."""
    truth = synthetic.dead_leaves(height, width, seed=seed)
    blurred = cv2.GaussianBlur(truth, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    band = np.minimum(np.arange(width) * n // width, n - 1)
    frames = [np.where((band == k)[None, :, None], truth, blurred) for k in range(n)]
    return frames, truth, np.broadcast_to(band, (height, width))


def psnr(x, y):
    return 10 * np.log10(1.0 / np.mean((np.asarray(x, np.float64) - y) ** 2))


class PairOnly:
    """A pairwise method seen only through fuse_pair (as liu2017 will be)."""

    name = "pair-only"

    def fuse_pair(self, a, b):
        return get("gff").fuse_pair(a, b)


# --- the answer is known -------------------------------------------------------------

@pytest.mark.parametrize("method, measured", [("gff", 33.6), ("focus", 33.0), ("pyramid", 37.9)])
def test_synthetic_pair_matches_truth(method, measured):
    a, b, truth, mask = synthetic.multifocus_pair(256, 256, seed=0)
    r = mfif.fuse([a, b], method=method, device="cpu")
    # the blurred sources are about 20 dB
    assert psnr(r.fused, truth) > measured - 0.3
    assert r.fused.dtype == np.float32 and r.fused.shape == truth.shape
    assert (r.decision == mask).mean() > 0.9


@pytest.mark.parametrize("method, measured", [("gff", 28.7), ("focus", 28.2), ("pyramid", 30.7), (PairOnly(), 28.1)])
def test_stack_depth_map_and_sharpness(method, measured):
    frames, truth, band = band_stack(5)
    r = mfif.fuse(frames, method=method, device="cpu")
    assert r.n_frames == 5 and r.index.shape == band.shape
    # interior of each band (6 px from band edges): the depth map names the sharp frame
    edge = np.abs(np.diff(band, axis=1, prepend=band[:, :1])) > 0
    interior = cv2.dilate(edge.astype(np.uint8), np.ones((1, 13), np.uint8)) == 0
    assert (r.index[interior] == band[interior]).mean() > 0.9  # measured: 0.93 to 0.98
    assert psnr(r.fused, truth) > measured - 0.3  # the frames are about 17 dB; the bands are 25 px wide


# --- inputs of every kind -----------------------------------------------------------

def test_paths_arrays_tensors_agree(tmp_path):
    frames, _, _ = band_stack(3)
    u8 = [io.from_float(f) for f in frames]
    paths = []
    for i, f in enumerate(u8):
        paths.append(str(tmp_path / f"f{i}.png"))
        io.write_image(paths[-1], f)
    by_path = mfif.fuse(paths, method="focus")
    by_array = mfif.fuse(u8, method="focus")
    by_folder = mfif.fuse(str(tmp_path), method="focus")
    by_glob = mfif.fuse(str(tmp_path / "f*.png"), method="focus")
    tensors = [torch.from_numpy(f.astype(np.float32) / 255).permute(2, 0, 1) for f in u8]
    by_tensor = mfif.fuse(tensors, method="focus")
    assert by_path.fused.dtype == np.uint8
    for r in (by_array, by_folder, by_glob):
        assert np.array_equal(r.fused, by_path.fused) and np.array_equal(r.index, by_path.index)
    # a list of [C, H, W] tensors comes back as tensors: [C, H, W] and an int32 depth map, like the batch form
    assert isinstance(by_tensor.fused, torch.Tensor) and by_tensor.fused.shape == (3, 96, 128)
    assert by_tensor.index.dtype == torch.int32 and by_path.index.dtype == np.int32
    assert np.abs(by_tensor.fused.permute(1, 2, 0).numpy() * 255 - by_path.fused).max() <= 0.5001
    assert by_path.frame_names == paths


def test_batched_tensor_form():
    stacks = [band_stack(3, seed=s)[0] for s in (0, 1)]
    x = torch.stack([torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in st]) for st in stacks])
    r = mfif.fuse(x, method="gff")  # [B, N, C, H, W]
    assert r.fused.shape == (2, 3, 96, 128) and r.index.shape == (2, 96, 128)
    assert isinstance(r.fused, torch.Tensor) and r.fused.dtype == torch.float32
    for b in range(2):
        one = mfif.fuse(x[b], method="gff")  # [N, C, H, W]
        assert torch.equal(one.fused, r.fused[b]) and torch.equal(one.index, r.index[b])


def test_grey_frames_stay_grey():
    frames, truth, _ = band_stack(3)
    grey = [io.from_float(f[..., 1]) for f in frames]
    r = mfif.fuse(grey, method="gff")
    assert r.fused.shape == grey[0].shape and r.fused.dtype == np.uint8 and r.channels == 1


def test_sixteen_bit_round_trip(tmp_path):
    frames, truth, _ = band_stack(3)
    for ext in ("png", "tif"):
        paths = []
        for i, f in enumerate(frames):
            paths.append(str(tmp_path / f"f{i}.{ext}"))
            io.write_image(paths[-1], io.from_float(f, np.uint16))
        r = mfif.fuse(paths, method="focus")
        assert r.fused.dtype == np.uint16
        out = str(tmp_path / f"fused.{ext}")
        io.write_image(out, r.fused)
        back = io.read_image(out)
        assert back.dtype == np.uint16 and np.array_equal(back, r.fused)
        r8 = mfif.fuse([io.from_float(f) for f in frames], method="focus")
        # the 16-bit result is the 8-bit one with more bits (a few choices at near-ties differ)
        assert np.abs(r.fused / 65535.0 - r8.fused / 255.0).mean() < 1 / 255
        assert psnr(r.fused / 65535.0, truth) > psnr(r8.fused / 255.0, truth) - 0.1


# --- streaming: memory does not grow with N ---------------------------------------

class CountingLoader:
    """Loaders that hand out fresh arrays and count how many are alive at once."""

    def __init__(self, frames):
        self.frames, self.alive, self.peak, self.loads = frames, 0, 0, 0

    def _free(self):
        self.alive -= 1

    def loader(self, i):
        def load():
            arr = (self.frames[i] * 255).round().astype(np.uint8)
            self.alive += 1
            self.loads += 1
            self.peak = max(self.peak, self.alive)
            weakref.finalize(arr, self._free)
            return arr
        return load


@pytest.mark.parametrize("method", ["gff", "focus", "pyramid", PairOnly()])
def test_driver_holds_one_frame_at_a_time(method):
    frames, _, _ = band_stack(12, height=48, width=64)
    counter = CountingLoader(frames)
    # alignment off: its estimate pass loads each frame once more (counted in test_align.py)
    r = mfif.fuse([counter.loader(i) for i in range(12)], method=method, align=False)
    assert counter.peak == 1
    passes = as_streaming(get(method) if isinstance(method, str) else method).passes
    assert counter.loads == 12 + passes * 12  # one probe per frame, then one load per pass
    assert r.fused.dtype == np.uint8 and r.n_frames == 12


def test_hundreds_of_frames():
    n = 300
    frames, _, band = band_stack(n, height=24, width=n, sigma=2.0)  # frame k sharp on column k
    counter = CountingLoader(frames)
    r = mfif.fuse([counter.loader(i) for i in range(n)], method="focus")
    # one frame at a time for the fusion; the alignment estimate reads two at once (two threads)
    assert counter.peak <= 2 and r.n_frames == n
    assert r.index.max() > 255  # indices beyond 8 bits survive
    depth = r.depth_image(np.uint16)
    assert depth.dtype == np.uint16 and depth.max() <= 65535
    # the depth map follows the sharp column to within the focus window (radius 4; measured median 3)
    assert np.median(np.abs(r.index - band)) <= 4


def test_sequential_pairs_of_two_is_the_pair_method():
    a, b, _, _ = synthetic.multifocus_pair(64, 64, seed=1)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None] for x in (a, b))
    want = get("gff").fuse_pair(ta, tb)
    got = run_stack(lambda i, region: (ta, tb)[i], 2, (64, 64), SequentialPairs(PairOnly()))
    assert torch.equal(got.fused, want.fused) and torch.equal(got.index == 0, want.decision)


# --- tiles ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["gff", "focus", "pyramid"])
def test_tiled_equals_untiled(method, tmp_path):
    frames, _, _ = band_stack(3, height=150, width=230, seed=4)
    whole = mfif.fuse(frames, method=method, tile=None)
    tiled = mfif.fuse(frames, method=method, tile=64)  # tiles smaller than the halos (96 px for gff)
    assert tiled.tiles == 12 and whole.tiles == 1
    assert np.abs(tiled.fused - whole.fused).max() < 1e-5
    assert np.array_equal(tiled.index, whole.index)
    # file frames are decoded once into memory maps and read tile by tile: same result
    paths = []
    for i, f in enumerate(frames):
        paths.append(str(tmp_path / f"f{i}.png"))
        io.write_image(paths[-1], io.from_float(f))
    whole8 = mfif.fuse(paths, method=method, tile=None)
    tiled8 = mfif.fuse(paths, method=method, tile=100, spill_dir=str(tmp_path))
    assert np.array_equal(tiled8.fused, whole8.fused) and np.array_equal(tiled8.index, whole8.index)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"f{i}.png" for i in range(3)]  # spill removed


def test_tiled_sixteen_bit_files(tmp_path):
    frames, _, _ = band_stack(3, height=130, width=170, seed=6)
    paths = []
    for i, f in enumerate(frames):
        paths.append(str(tmp_path / f"f{i}.tif"))
        io.write_image(paths[-1], io.from_float(f, np.uint16))
    whole = mfif.fuse(paths, method="pyramid", tile=None)
    tiled = mfif.fuse(paths, method="pyramid", tile=64, spill_dir=str(tmp_path))
    assert tiled.tiles > 1 and tiled.fused.dtype == np.uint16
    # the tiles' float results equal the whole one's to rounding (OpenCV's vector loops and scalar
    # row tails round differently; 2.4e-7 measured), which can move a 16-bit value across a .5
    diff = np.abs(tiled.fused.astype(np.int32) - whole.fused)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert np.array_equal(tiled.index, whole.index)


def test_tiles_refused_for_global_methods():
    frames, _, _ = band_stack(3)
    with pytest.raises(StackError, match="cannot be fused in tiles"):
        mfif.fuse(frames, method=PairOnly(), tile=64)


# --- the per-frame transform hook (alignment plugs in here) -----------------------

def test_transform_is_applied_to_each_frame_as_loaded():
    frames, _, _ = band_stack(3)
    seen = []

    def flip(frame, i):
        seen.append(i)
        return frame.flip(-1)

    r = mfif.fuse(frames, method="gff", transform=flip)
    want = mfif.fuse([f[:, ::-1].copy() for f in frames], method="gff")
    assert np.array_equal(r.fused, want.fused)
    assert seen == [0] + [0, 1, 2] * 2  # a size probe, then two passes

    crop = mfif.fuse(frames, method="gff", transform=lambda f, i: f[..., 8:-8, 4:-4])
    assert crop.fused.shape == (80, 120, 3) and crop.size == (80, 120)
    with pytest.raises(StackError, match="one size"):
        mfif.fuse(frames, method="gff", transform=lambda f, i: f[..., i:, :])


# --- bad input --------------------------------------------------------------------

def test_bad_input_errors(tmp_path):
    frames, _, _ = band_stack(2)
    with pytest.raises(StackError, match="at least two"):
        mfif.fuse([frames[0]])
    with pytest.raises(StackError, match="same size"):
        mfif.fuse([frames[0], frames[1][:50]])
    with pytest.raises(StackError, match="grey"):
        mfif.fuse([frames[0], frames[1][..., 0]])
    with pytest.raises(StackError, match="bit depth"):
        mfif.fuse([io.from_float(frames[0]), io.from_float(frames[1], np.uint16)])
    with pytest.raises(StackError, match="no such file"):
        mfif.fuse([frames[0], str(tmp_path / "missing.png")])
    with pytest.raises(StackError, match="available"):
        mfif.fuse(frames, method="no-such-method")
    with pytest.raises(StackError, match="not a device"):
        mfif.fuse(frames, device="gpu0")
    with pytest.raises(StackError, match=r"\[B, N, C, H, W\]"):
        mfif.fuse(torch.rand(2, 5, 8, 8))


def test_methods_are_discoverable():
    names = mfif.methods.available()
    assert {"gff", "focus", "pyramid"} <= set(names)
    for name in names:
        assert get(name).name == name
    with pytest.raises(ValueError, match="unknown fusion method"):
        get("nope")


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
def test_cpu_frames_convert_as_the_torch_path(dtype, top):
    from mfif.fusion import _to_tensor
    arr = np.random.default_rng(1).integers(0, top + 1, (13, 17, 3)).astype(dtype)
    got = _to_tensor(arr, torch.device("cpu"), torch.float32)
    want = torch.from_numpy(arr.astype(np.int32)).permute(2, 0, 1)[None].to(torch.float32).mul_(1.0 / top)
    assert got.shape == (1, 3, 13, 17) and got.is_contiguous() and torch.equal(got, want)
