"""mfif.distributed.fuse_array: a dask array of frames fused block by block (each block reading its
region with the halo, or map_overlap), equal to the tiled CPU path and to the untiled fusion, on threads and on a two-process cluster."""
import os

import numpy as np
import pytest

import mfif
from mfif import synthetic
from mfif.fusion import StackError, cpu_files

distributed = pytest.importorskip("distributed", reason="mfif.distributed needs the extra: pip install 'mfif[distributed]'")
da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")
from mfif.distributed import fuse_array  # noqa: E402
from mfif.methods.pyramid_params import PyramidParams  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    """3 registered frames, 300x340 colour uint8 (not a multiple of any block size)."""
    frames, _ = synthetic.moving_stack(300, 340, n=3, seed=1, max_scale=0, max_rotation_deg=0, max_shift=0)
    return np.stack([np.rint(f * 255).astype(np.uint8) for f in frames])


def untiled(frames, method):
    return mfif.fuse(list(frames), method=method, device="cpu", tile=None, align="off")


@pytest.mark.parametrize("reads", ["region", "overlap"])
def test_pyramid_blocks_equal_the_tiled_cpu_path_and_the_whole(stack, reads):
    r = fuse_array(da.from_array(stack, chunks=(1, 100, 100, 3)), chunk=64, reads=reads)  # any input chunks
    # blocks on the pyramid's grid (4 levels: 16 px), at least as wide as its halo (128 px)
    assert (r.method, r.chunk, r.halo) == ("pyramid", 128, 128)
    assert r.fused.chunks == ((128, 172), (128, 212), (3,)) and r.index.dtype == np.uint8
    fused, index = da.compute(r.fused, r.index, scheduler="threads")
    job, _ = cpu_files.plan(list(stack), PyramidParams().for_size(300, 340), "cpu", tile=r.chunk)
    tiled = cpu_files.fuse_files(job, align="off")
    assert tiled.tiles == 9  # its last tiles are 44 px wide; the blocks join them to their neighbours
    assert np.array_equal(fused, tiled.fused) and np.array_equal(index, tiled.index)
    whole = untiled(stack, "pyramid")
    assert np.array_equal(fused, whole.fused) and np.array_equal(index, whole.index)


@pytest.mark.parametrize("method, reads", [("gff", "region"), ("focus", "region"), ("gff", "overlap")])
def test_torch_methods_in_blocks_equal_their_untiled_fusion(stack, method, reads):
    grey = stack[..., 1]  # [N, H, W]: grey frames
    r = fuse_array(da.from_array(grey, chunks=(3, 70, 90)), method=method, chunk=64, reads=reads)
    fused, index = da.compute(r.fused, r.index, scheduler="threads")
    whole = untiled(grey, method)
    assert fused.shape == (300, 340) and fused.dtype == np.uint8
    assert np.array_equal(fused, whole.fused) and np.array_equal(index, whole.index)


def test_sixteen_bit_and_float_frames_keep_their_type(stack):
    f16 = stack.astype(np.uint16) * 257
    r = fuse_array(f16, chunk=128)
    fused = r.fused.compute(scheduler="threads")
    assert fused.dtype == np.uint16
    diff = np.abs(fused.astype(np.int32) - untiled(f16, "pyramid").fused)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float rounding at block edges, as the tiled CPU path
    f32 = stack.astype(np.float32) / 255
    out = fuse_array(f32, chunk=128).fused.compute(scheduler="threads")
    assert out.dtype == np.float32 and np.abs(out - untiled(f32, "pyramid").fused).max() < 1e-5


def test_on_a_two_process_cluster_written_to_zarr_and_tiff(stack, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            distributed.Client(cl):
        src = str(tmp_path / "frames.zarr")
        da.from_array(stack, chunks=(1, 128, 128, 3)).to_zarr(src)
        r = fuse_array(da.from_zarr(src), chunk=128)
        r.write(str(tmp_path / "fused.zarr"), depth_map=str(tmp_path / "depth.zarr"))
        r.write(str(tmp_path / "fused.tif"), depth_map=str(tmp_path / "depth.tiff"), tile=64)
        overlap = fuse_array(da.from_zarr(src), chunk=128, reads="overlap")
        overlap.write(str(tmp_path / "fused-o.zarr"), depth_map=str(tmp_path / "depth-o.zarr"))
    whole = untiled(stack, "pyramid")
    assert np.array_equal(zarr.open_array(str(tmp_path / "fused.zarr"), mode="r")[:], whole.fused)
    assert np.array_equal(zarr.open_array(str(tmp_path / "depth.zarr"), mode="r")[:], whole.index)
    assert np.array_equal(tifffile.imread(str(tmp_path / "fused.tif")), whole.fused)
    assert np.array_equal(tifffile.imread(str(tmp_path / "depth.tiff")), whole.index)
    assert np.array_equal(zarr.open_array(str(tmp_path / "fused-o.zarr"), mode="r")[:], whole.fused)
    assert np.array_equal(zarr.open_array(str(tmp_path / "depth-o.zarr"), mode="r")[:], whole.index)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".mfif-")]  # the staging folders are gone
    # writing again replaces the outputs whole
    fuse_array(stack[:, :64, :64], chunk=64).write(str(tmp_path / "fused.zarr"))
    assert zarr.open_array(str(tmp_path / "fused.zarr"), mode="r").shape == (64, 64, 3)


def test_bad_input_gets_a_clear_error(stack, tmp_path):
    with pytest.raises(StackError, match="at least two frames"):
        fuse_array(stack[:1])
    with pytest.raises(StackError, match=r"\[N, H, W\] or \[N, H, W, C\]"):
        fuse_array(stack[0, 0])
    with pytest.raises(StackError, match="int32 frames are not supported"):
        fuse_array(stack.astype(np.int32))
    with pytest.raises(StackError, match="cannot be fused in blocks"):
        fuse_array(stack, method=_GlobalMethod())
    with pytest.raises(ValueError, match="reads must be"):
        fuse_array(stack, reads="all")
    r = fuse_array(stack)
    with pytest.raises(ValueError, match="unknown format '.png'"):
        r.write(str(tmp_path / "fused.png"))
    with pytest.raises(ValueError, match="does not exist"):
        r.write(str(tmp_path / "nowhere" / "fused.zarr"))
    with pytest.raises(ValueError, match="same path"):
        r.write(str(tmp_path / "a.zarr"), depth_map=str(tmp_path / "a.zarr"))


class _GlobalMethod:
    """A pairwise method (a pixel may depend on the whole image): no halo."""

    name = "global"

    def fuse_pair(self, a, b):  # pragma: no cover - never called
        raise AssertionError
