"""CUDA benchmarks: every op against its pure-PyTorch reference on the GPU,
kornia (box_blur, guided_blur) and cupyx / cuCIM label where installed, and
the fused Liu post-processing chain and Liu's dense head (score_map), with the
memory-bandwidth floor of each (score_map is compute-bound: its floor says little).

    python benchmarks/bench_cuda.py [--out results.md] [--json results.json] [--quick]

Timing: inputs on the GPU, 3 warm-up calls, then the call is captured in a
CUDA graph and the graph replayed n times between two CUDA events (the time
per replay, median of 7 such measurements); what cannot be captured (the
references and baselines that synchronise) is timed the same way without a
graph. The floor is (bytes the op must read and write) / peak DRAM bandwidth
(H200: 4.8 TB/s, H100 SXM: 3.35 TB/s); "x floor" = time / floor.
Without a GPU it prints a note and exits 0 (nothing to measure).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys

import torch
import torch.nn.functional as F

import mfif
from mfif import ops, pipeline, reference as ref

SIZES = {"520x520": (520, 520), "1920x1080": (1080, 1920), "3840x2160": (2160, 3840)}
PEAK_BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12}
RADIUS, EPS, AREA_RATIO = 8, 0.1, 0.01


def peak_bandwidth() -> tuple[float, str]:
    name = torch.cuda.get_device_name()
    for key, bw in PEAK_BANDWIDTH.items():
        if key in name:
            return bw, name
    return PEAK_BANDWIDTH["H100"], name + " (peak bandwidth unknown: H100's used)"


def time_call(fn, graph: bool, budget_s: float = 0.5) -> tuple[float, bool]:
    """Median seconds per call of fn() (graph replay when graph and capturable)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    run = fn
    if graph:
        try:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                fn()
            run = g.replay
        except Exception:  # noqa: BLE001 - not capturable: time it eagerly
            torch.cuda.synchronize()
            graph = False
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    run()
    end.record()
    end.synchronize()
    once = max(start.elapsed_time(end) * 1e-3, 1e-7)
    n = max(1, min(1000, int(budget_s / 7 / once)))
    samples = []
    for _ in range(7 if once < budget_s else 1):
        start.record()
        for _ in range(n):
            run()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e-3 / n)
    return statistics.median(samples), graph


def noisy_mask(H, W, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.rand(1, 1, H, W, device="cuda", generator=g)
    x = F.avg_pool2d(x, 7, stride=1, padding=3, count_include_pad=False)
    return ((x > 0.5) ^ (torch.rand(x.shape, device="cuda", generator=g) < 0.05))[:, 0]


def optional(module):
    try:
        return __import__(module, fromlist=["_"])
    except Exception:  # noqa: BLE001 - not installed (kornia is not on the GPU machines)
        return None


def cases(H, W, quick):
    """(op, impl, fn, bytes of the floor) for one image size (float32, batch 1)."""
    N = H * W
    h, w = math.ceil(H / 2) - 7, math.ceil(W / 2) - 7
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.rand(1, 1, H, W, device="cuda", generator=g)
    rgb = torch.rand(1, 3, H, W, device="cuda", generator=g)
    logits = torch.randn(1, 2, h, w, device="cuda", generator=g) * 3
    mask = noisy_mask(H, W)
    target = torch.rand(1, 3, H, W, device="cuda", generator=g)
    pred = torch.rand(1, 3, H, W, device="cuda", generator=g, requires_grad=True)
    kornia = optional("kornia")
    out = []

    def add(op, impl, fn, floor_bytes, graph=True, compute_bound=False):
        out.append((op, impl, fn, floor_bytes, graph, compute_bound))

    add("box_filter r=8", "mfif", lambda: ops.box_filter(x, RADIUS), 8 * N)
    add("box_filter r=8", "reference", lambda: ref.box_filter(x, RADIUS), 8 * N)
    if kornia is not None:
        k = 2 * RADIUS + 1
        add("box_filter r=8", "kornia box_blur", lambda: kornia.filters.box_blur(x, (k, k)), 8 * N)
    for guide, gname, gbytes in ((x, "gray", 4), (rgb, "colour", 12)):
        op = f"guided_filter {gname} r=8"
        add(op, "mfif", lambda guide=guide: ops.guided_filter(guide, x, RADIUS, EPS), (gbytes + 8) * N)
        add(op, "reference", lambda guide=guide: ref.guided_filter(guide, x, RADIUS, EPS), (gbytes + 8) * N)
        if kornia is not None:
            k = 2 * RADIUS + 1
            add(op, "kornia guided_blur", lambda guide=guide: kornia.filters.guided_blur(guide, x, k, EPS),
                (gbytes + 8) * N)
    add("patch_mean logits", "mfif", lambda: ops.patch_mean(logits, (H, W)), 8 * h * w + 4 * N)
    add("patch_mean logits", "reference", lambda: ref.patch_mean(logits, (H, W)), 8 * h * w + 4 * N)
    add("connected_components", "mfif", lambda: ops.connected_components(mask, 8), 5 * N)
    add("remove_small_regions", "mfif", lambda: ops.remove_small_regions(mask, math.ceil(AREA_RATIO * N), 8), 2 * N)
    if not quick or N <= 1 << 21:  # the iterative references take long at 4K
        add("connected_components", "reference", lambda: ref.connected_components(mask, 8), 5 * N, False)
        add("remove_small_regions", "reference",
            lambda: ref.remove_small_regions(mask, math.ceil(AREA_RATIO * N), 8), 2 * N, False)
    cupy_label = optional("cupyx.scipy.ndimage")
    if cupy_label is not None:
        import cupy

        m = cupy.asarray(mask[0])
        add("connected_components", "cupyx label", lambda: cupy_label.label(m, structure=cupy.ones((3, 3))), 5 * N,
            False)
    cucim = optional("cucim.skimage.measure")
    if cucim is not None:
        import cupy

        m = cupy.asarray(mask[0])
        add("connected_components", "cuCIM label", lambda: cucim.label(m, connectivity=2), 5 * N, False)

    def nps_step(loss_fn):
        def step():
            (gp,) = torch.autograd.grad(loss_fn(pred, target), pred)
            return gp
        return step

    add("nps_loss fwd+bwd", "mfif", nps_step(ops.nps_loss), 20 * 3 * N)
    add("nps_loss fwd+bwd", "reference", nps_step(ref.nps_loss), 20 * 3 * N)
    if not quick or N <= 1 << 21:
        # Liu's dense head: 256-channel features of both sources at half resolution (4.2 GB at 4K). A GEMM of
        # 2C k^2 = 32768 multiply-adds per score: compute-bound, so its bandwidth floor says little.
        fa = torch.rand(1, 256, h + 7, w + 7, device="cuda", generator=g)
        fb = torch.rand(1, 256, h + 7, w + 7, device="cuda", generator=g)
        hw, hb = torch.randn(2, 512, 8, 8, device="cuda", generator=g) * 0.01, torch.randn(2, device="cuda")
        head_bytes = 4 * (fa.numel() + fb.numel() + h * w)
        add("score_map (Liu head)", "mfif", lambda: ops.score_map(fa, fb, hw, hb), head_bytes, compute_bound=True)
        add("score_map (Liu head)", "reference", lambda: ref.score_map(fa, fb, hw, hb), head_bytes,
            compute_bound=True)
    a, b = rgb, torch.rand(1, 3, H, W, device="cuda", generator=g)
    # chain: read logits, a, b; write fused, decision, weights
    chain_bytes = 8 * h * w + 24 * N + 12 * N + N + 4 * N
    add("Liu chain (liu_postprocess)", "mfif", lambda: pipeline.liu_postprocess(logits, a, b), chain_bytes)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the Markdown table here too")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--quick", action="store_true", help="skip the slow references at 3840x2160")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_cuda: no GPU on this machine; nothing measured")
        return 0
    if not mfif.cuda_kernels_available():
        print("bench_cuda: this build of mfif has no CUDA kernels; rebuild it on a machine with nvcc")
        return 1
    bw, gpu = peak_bandwidth()
    results = []
    for size, (H, W) in SIZES.items():
        for op, impl, fn, floor_bytes, graph, compute_bound in cases(H, W, args.quick):
            seconds, graphed = time_call(fn, graph)
            floor = floor_bytes / bw
            results.append(dict(op=op, impl=impl, size=size, seconds=seconds, graph=graphed, floor_s=floor,
                                bandwidth=floor_bytes / seconds, compute_bound=compute_bound))
            print(f"{op:32s} {size:10s} {impl:20s} {seconds * 1e6:10.1f} us  (floor {floor * 1e6:.1f} us)",
                  file=sys.stderr, flush=True)
    lines = [f"Run on {datetime.date.today()}, {gpu}, torch {torch.__version__}; medians; "
             f"floor at {bw / 1e12:.2f} TB/s; `x N` = that time / mfif's.", "",
             "| op | size | mfif | floor | x floor | achieved | others |", "|---|---|---|---|---|---|---|"]
    for size in SIZES:
        ops_here = dict.fromkeys(r["op"] for r in results if r["size"] == size)
        for op in ops_here:
            rows = [r for r in results if r["size"] == size and r["op"] == op]
            mine = next(r for r in rows if r["impl"] == "mfif")
            others = ", ".join(f"{r['impl']} {r['seconds'] * 1e3:.3f} ms (x {r['seconds'] / mine['seconds']:.1f})"
                               for r in rows if r["impl"] != "mfif")
            how = "graph" if mine["graph"] else "eager"
            lines.append(f"| {op} | {size} | {mine['seconds'] * 1e3:.4f} ms ({how}) | {mine['floor_s'] * 1e3:.4f} ms | "
                         f"{mine['seconds'] / mine['floor_s']:.1f} | {mine['bandwidth'] / 1e9:.0f} GB/s | {others} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(gpu=gpu, torch=torch.__version__, results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
