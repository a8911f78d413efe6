"""A huge colour stack fused with mfif.distributed.fuse_array on a local cluster, and checked.

1. generate: a [N, S, S, 3] uint8 focus stack, lazily, block by block (dead leaves, each frame
   sharp in the regions of its band of a smooth depth and blurred elsewhere), stored to zarr
   (build/ by default);
2. fuse: fuse_array(da.from_zarr(...)).write(fused.zarr, depth_map=depth.zarr) on a local
   cluster (--workers processes of one thread), timing it and reading every worker's peak
   resident memory (getrusage) at the end;
3. check: a crop fused untiled (a margin of the halo cut off) equals the output there, and
   (unless --no-full-check) the tiled CPU path over the whole image equals it everywhere.

Example:
    python scripts/distributed_big_array.py --size 20000 --frames 3 --chunk 1280 --workers 2
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))


def scene_block(n: int, seed: int, y0: int, x0: int, h: int, w: int, margin: int = 16) -> np.ndarray:
    """Frames ``[n, h, w, 3]`` uint8 of one block: its own dead-leaves scene, seen in focus by frame ``i``
    where a smooth global depth falls in band ``i`` and blurred elsewhere, the more the farther its band
    (Gaussian sigma 2 one band away, 4 beyond), so every frame is sharp in its own regions and the
    regions cross the blocks' borders.

    Cheap on purpose (one scene, two blurs in uint8, a per-pixel choice per frame: about a tenth of the
    fusion's cost): the huge-image check times the fusion, not the synthesis.
    """
    import cv2

    from mfif.synthetic import dead_leaves

    H, W = h + 2 * margin, w + 2 * margin
    sharp = np.clip(np.rint(dead_leaves(H, W, seed=seed) * 255), 0, 255).astype(np.uint8)
    levels = [sharp] + [cv2.GaussianBlur(sharp, (0, 0), s, borderType=cv2.BORDER_REFLECT) for s in (2.0, 4.0)]
    levels = [lv[margin:margin + h, margin:margin + w] for lv in levels]
    yy = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
    xx = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
    depth = 0.5 + 0.25 * np.sin(xx / 1500.0) + 0.25 * np.cos(yy / 2100.0)  # in [0, 1], smooth over the image
    band = np.clip(np.rint(depth * (n - 1)), 0, n - 1).astype(np.int16)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        far = np.minimum(np.abs(band - i), 2)[..., None]
        out[i] = np.where(far == 0, levels[0], np.where(far == 1, levels[1], levels[2]))
    return out


def generate(path: str, n: int, size: int, chunk: int) -> None:
    import dask.array as da

    def block(block_info=None):
        (ys, ye), (xs, xe) = block_info[None]["array-location"][1:3]
        loc = block_info[None]["chunk-location"]
        return scene_block(n, 1000 * loc[1] + loc[2], ys, xs, ye - ys, xe - xs)

    sizes = tuple([chunk] * (size // chunk) + ([size % chunk] if size % chunk else []))
    arr = da.map_blocks(block, chunks=((n,), sizes, sizes, (3,)), dtype=np.uint8, meta=np.empty((0, 0, 0, 0), np.uint8))
    arr.to_zarr(path, overwrite=True)


def disk_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1280)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "build", "big-array"))
    ap.add_argument("--no-full-check", action="store_true")
    ap.add_argument("--reads", default="region", choices=["region", "overlap"], help="fuse_array's reads")
    ap.add_argument("--tag", default="", help="suffix of the output names (runs side by side)")
    args = ap.parse_args()

    import dask.array as da
    import zarr
    from distributed import Client, LocalCluster

    import mfif
    from mfif.distributed import fuse_array
    from mfif.fusion import cpu_files
    from mfif.methods.pyramid_params import PyramidParams

    os.makedirs(args.dir, exist_ok=True)
    S = args.size
    src = os.path.join(args.dir, f"frames-{S}.zarr")
    fused_path = os.path.join(args.dir, f"fused-{S}{args.tag}.zarr")
    depth_path = os.path.join(args.dir, f"depth-{S}{args.tag}.zarr")
    start = time.perf_counter()
    print(f"load before: {os.getloadavg()}", flush=True)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        if not os.path.exists(os.path.join(src, "zarr.json")) and not os.path.exists(os.path.join(src, ".zarray")):
            t = time.perf_counter()
            generate(src, args.frames, S, args.chunk)
            print(f"generated {args.frames}x{S}x{S}x3 in {time.perf_counter() - t:.0f} s -> {src}", flush=True)
        client.restart()  # fresh workers: the peak memory below is the fusion's
        frames = da.from_zarr(src)
        r = fuse_array(frames, chunk=args.chunk, reads=args.reads)
        t = time.perf_counter()
        r.write(fused_path, depth_map=depth_path)
        seconds = time.perf_counter() - t
        peaks = client.run(peak_rss_mb)
    print(f"fused {frames.shape} in {seconds:.0f} s ({S * S / 1e6 / seconds:.2f} MP/s of output) with "
          f"{args.workers} workers x 1 thread, blocks of {r.chunk} + halo {r.halo}, reads={args.reads}; worker peak RSS MB: "
          f"{sorted(round(p) for p in peaks.values())}", flush=True)
    print(f"load after: {os.getloadavg()}; on disk: " + ", ".join(
        f"{os.path.basename(p)} {disk_mb(p):.0f} MB" for p in (src, fused_path, depth_path)), flush=True)

    z_src, z_fused, z_depth = (zarr.open_array(p, mode="r") for p in (src, fused_path, depth_path))
    # an untiled fusion of a crop (the levels fixed for the whole image), its halo margin cut off
    params = PyramidParams().for_size(S, S)
    unit, halo = params.tile_align, r.halo
    y0 = x0 = (S // 2 // unit) * unit - 2 * halo
    side = min(4096, S - y0)
    crop = [z_src[i, y0:y0 + side, x0:x0 + side] for i in range(args.frames)]
    whole = mfif.fuse(crop, method=params, device="cpu", tile=None, align="off")
    inner = (slice(halo, side - halo), slice(halo, side - halo))
    same = np.array_equal(whole.fused[inner], z_fused[y0 + halo:y0 + side - halo, x0 + halo:x0 + side - halo])
    same_depth = np.array_equal(whole.index[inner], z_depth[y0 + halo:y0 + side - halo, x0 + halo:x0 + side - halo])
    print(f"untiled crop {side - 2 * halo}x{side - 2 * halo} at ({y0 + halo}, {x0 + halo}): fused equal {same}, "
          f"depth equal {same_depth}", flush=True)
    if args.no_full_check:
        print(f"total {time.perf_counter() - start:.0f} s", flush=True)
        return
    from mfif.fusion.sources import FrameSource

    sources = [FrameSource(f"frame {i}", (S, S, 3), np.uint8, lambda i=i: z_src[i]) for i in range(args.frames)]
    t = time.perf_counter()
    job, _ = cpu_files.plan(sources, params, "cpu", tile=r.chunk)
    tiled = cpu_files.fuse_files(job, align="off", spill_dir=args.dir)
    print(f"tiled CPU path ({tiled.tiles} tiles of {r.chunk}) in {time.perf_counter() - t:.0f} s", flush=True)
    diff = 0
    for y in range(0, S, 2048):
        a = z_fused[y:y + 2048]
        diff += int(np.count_nonzero(a != tiled.fused[y:y + 2048]))
        diff += int(np.count_nonzero(z_depth[y:y + 2048] != tiled.index[y:y + 2048]))
    print(f"everywhere: {diff} values differ from the tiled CPU path", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
