"""Whole fusions on the GPU: ``mfif.fuse(pair, method, device="cuda")`` end to end
for liu2017, gff and every network method present, beside the same pipeline in
plain PyTorch on the same GPU (every mfif op swapped for its pure-PyTorch
reference), and Liu's pipeline with its post-processing as a CUDA graph replay.

    python benchmarks/bench_fuse_cuda.py [--out fuse.md] [--json fuse.json] [--sizes 520x520,1920x1080]

Timing: a pair of float32 RGB frames already on the GPU (``[2, 3, H, W]``), two
warm-up calls (one when it takes over the budget), then the median wall time of calls each ended by
``torch.cuda.synchronize()`` (up to 15 calls or ``--budget`` seconds per
case). "liu2017 (graph)" runs the network and ``score_map`` eagerly and replays
``mfif.pipeline.liu_postprocess`` captured in a CUDA graph. Without a GPU it
prints a note and exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import sys
import time

import torch

import mfif
from mfif import ops, pipeline, reference

SIZES = {"520x520": (520, 520), "1920x1080": (1080, 1920), "3840x2160": (2160, 3840)}
# methods that run a network (liu2017 among them); the others present are timed too when asked
NETWORK_METHODS = ("liu2017",)
# mfif ops and their pure-PyTorch references (same signatures), for the "plain PyTorch" runs
PLAIN = ("box_filter", "guided_filter", "patch_mean", "score_map", "connected_components", "remove_small_regions")


@contextlib.contextmanager
def plain_pytorch():
    """Every mfif op call site (``ops.X``) takes the reference instead; no fused CUDA stage."""
    saved = {name: getattr(ops, name) for name in PLAIN}
    fused = ops._liu_fusion.has_cuda_kernel
    try:
        for name in PLAIN:
            setattr(ops, name, getattr(reference, name))
        ops._liu_fusion.has_cuda_kernel = lambda: False
        yield
    finally:
        for name, fn in saved.items():
            setattr(ops, name, fn)
        ops._liu_fusion.has_cuda_kernel = fused


def pair(H: int, W: int, device: str) -> torch.Tensor:
    """Two 'focus' frames of one random scene: each blurs the other half."""
    g = torch.Generator(device=device).manual_seed(0)
    scene = torch.rand(1, 3, H, W, device=device, generator=g)
    blurred = torch.nn.functional.avg_pool2d(scene, 9, stride=1, padding=4, count_include_pad=False)
    left = torch.zeros(1, 1, H, W, device=device)
    left[..., : W // 2] = 1
    return torch.cat([torch.lerp(blurred, scene, left), torch.lerp(scene, blurred, left)])


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_wall(fn, budget_s: float, max_runs: int = 15) -> tuple[float, int]:
    """Median seconds per synchronised call (after warm-up) and the number of runs.

    A case whose warm-up call takes over the budget (the plain references at 4K) gets one timed call.
    """
    sync()
    t = time.perf_counter()
    fn()
    sync()
    if time.perf_counter() - t < budget_s:
        fn()
        sync()
    samples, spent = [], 0.0
    while len(samples) < max_runs and (spent < budget_s or len(samples) < 3):
        t = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t)
        spent += samples[-1]
        if samples[0] > budget_s:  # one call already over budget: one sample is all there is time for
            break
    return statistics.median(samples), len(samples)


class LiuGraph:
    """liu2017 with the post-processing captured once per input shape in a CUDA graph."""

    def __init__(self):
        from mfif.methods.liu2017 import METHOD

        self.method, self.graphs = METHOD, {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[0:1], x[1:2]
        scores = self.method.scores(a, b)
        key = tuple(x.shape)
        if key not in self.graphs:
            static = [scores.clone(), a.clone(), b.clone()]
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up outside the capture
                pipeline.liu_postprocess(*static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = pipeline.liu_postprocess(*static)
            self.graphs[key] = (graph, static, out)
        graph, static, out = self.graphs[key]
        for s, v in zip(static, (scores, a, b)):
            s.copy_(v)
        graph.replay()
        return out[0]


def cases(methods: list[str], device: str):
    out = []
    for name in methods:
        out.append((name, "mfif", lambda x, name=name: mfif.fuse(x, name, device=device).fused, None))
        out.append((name, "plain PyTorch", lambda x, name=name: mfif.fuse(x, name, device=device).fused,
                    plain_pytorch))
        if name == "liu2017" and device == "cuda":
            graph = LiuGraph()
            out.append((name, "mfif (graph)", graph, None))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the Markdown table here too")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated, from " + ", ".join(SIZES))
    parser.add_argument("--methods", default=None, help="comma-separated (default: liu2017, gff and every "
                        "network method present)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timed calls per case")
    parser.add_argument("--plain-sizes", default=None, help="sizes at which the plain-PyTorch pipeline is timed "
                        "too (default: every size)")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to check this script without a GPU")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_fuse_cuda: no GPU on this machine; nothing measured")
        return 0
    if args.device == "cuda" and not mfif.cuda_kernels_available():
        print("bench_fuse_cuda: this build of mfif has no CUDA kernels; rebuild it on a machine with nvcc")
        return 1
    present = mfif.methods.available()
    methods = (args.methods.split(",") if args.methods
               else [m for m in present if m in ("liu2017", "gff") or m in NETWORK_METHODS])
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (script check only)"
    results = []
    for size in args.sizes.split(","):
        H, W = SIZES[size]
        x = pair(H, W, args.device)
        for method, impl, fn, context in cases(methods, args.device):
            if impl == "plain PyTorch" and args.plain_sizes is not None and size not in args.plain_sizes.split(","):
                continue
            with (context() if context else contextlib.nullcontext()):
                try:
                    seconds, runs = time_wall(lambda: fn(x), args.budget)
                    error = None
                except Exception as exc:  # noqa: BLE001 - recorded in the table: one case must not stop the rest
                    seconds, runs, error = float("nan"), 0, f"{type(exc).__name__}: {exc}"
            results.append(dict(method=method, impl=impl, size=size, seconds=seconds, runs=runs, error=error))
            note = error or f"{runs} runs"
            print(f"{method:12s} {size:10s} {impl:16s} {seconds * 1e3:10.2f} ms  ({note})", file=sys.stderr,
                  flush=True)
            if args.json:  # after every case: a run cut short by a timeout keeps what it measured
                write_json(args.json, gpu, results)
        del x
        if args.device == "cuda":
            torch.cuda.empty_cache()
    lines = [f"Run on {datetime.date.today()}, {gpu}, torch {torch.__version__}; `mfif.fuse` of a float32 RGB "
             "pair on the GPU, end to end, median wall time; `x N` = plain PyTorch time / mfif's.", "",
             "| method | size | mfif | mfif, post-processing as a CUDA graph | plain PyTorch | x |",
             "|---|---|---|---|---|---|"]
    for size in args.sizes.split(","):
        for method in methods:
            rows = {r["impl"]: r for r in results if r["size"] == size and r["method"] == method}
            cell = lambda r: "-" if r is None else (r["error"][:60] if r["error"] else  # noqa: E731
                                                     f"{r['seconds'] * 1e3:.2f} ms")
            mine, plain = rows.get("mfif"), rows.get("plain PyTorch")
            ratio = (f"{plain['seconds'] / mine['seconds']:.1f}" if mine and plain and not mine["error"]
                     and not plain["error"] else "-")
            lines.append(f"| {method} | {size} | {cell(mine)} | {cell(rows.get('mfif (graph)'))} | {cell(plain)} | "
                         f"{ratio} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    if args.json:
        write_json(args.json, gpu, results)
    return 0


def write_json(path: str, gpu: str, results: list) -> None:
    with open(path, "w") as f:
        json.dump(dict(gpu=gpu, torch=torch.__version__, results=results), f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
