"""A huge colour stack fused with mfif.distributed.fuse_array on a local cluster, and checked.

1. generate: a [N, S, S, 3] uint8 focus stack, lazily, block by block (dead leaves seen
   through a focus sweep over a smooth depth), stored to zarr (build/ by default);
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
    """Frames ``[n, h, w, 3]`` uint8 of one block: its own dead-leaves scene, blurred per frame by the
    distance of a smooth global depth to the frame's focus depth (so the frames of a block agree)."""
    import cv2

    from mfif import synthetic

    H, W = h + 2 * margin, w + 2 * margin
    truth = synthetic.dead_leaves(H, W, seed=seed)
    yy, xx = np.mgrid[y0 - margin:y0 - margin + H, x0 - margin:x0 - margin + W].astype(np.float32)
    depth = 0.5 + 0.25 * np.sin(xx / 1500.0) + 0.25 * np.cos(yy / 2100.0)
    levels, step = synthetic._blur_levels(truth, 4.0)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        frame = synthetic._defocus(levels, step, 4.0 * np.abs(depth - i / max(n - 1, 1)))
        out[i] = np.clip(np.rint(frame[margin:margin + h, margin:margin + w] * 255), 0, 255)
    del cv2
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
    fused_path, depth_path = os.path.join(args.dir, f"fused-{S}.zarr"), os.path.join(args.dir, f"depth-{S}.zarr")
    print(f"load before: {os.getloadavg()}", flush=True)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        if not os.path.exists(os.path.join(src, "zarr.json")) and not os.path.exists(os.path.join(src, ".zarray")):
            t = time.perf_counter()
            generate(src, args.frames, S, args.chunk)
            print(f"generated {args.frames}x{S}x{S}x3 in {time.perf_counter() - t:.0f} s -> {src}", flush=True)
        client.restart()  # fresh workers: the peak memory below is the fusion's
        frames = da.from_zarr(src)
        r = fuse_array(frames, chunk=args.chunk)
        t = time.perf_counter()
        r.write(fused_path, depth_map=depth_path)
        seconds = time.perf_counter() - t
        peaks = client.run(peak_rss_mb)
    print(f"fused {frames.shape} in {seconds:.0f} s ({S * S / 1e6 / seconds:.2f} MP/s of output) with "
          f"{args.workers} workers x 1 thread, blocks of {r.chunk} + halo {r.halo}; worker peak RSS MB: "
          f"{sorted(round(p) for p in peaks.values())}", flush=True)
    print(f"load after: {os.getloadavg()}", flush=True)

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


if __name__ == "__main__":
    main()
