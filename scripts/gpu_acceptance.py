"""The acceptance figures of the GPU run, from the files scripts/gpu_check.sh writes.

    python scripts/gpu_acceptance.py OUT_DIR     # writes OUT_DIR/acceptance.md and prints it

Reads junit.xml (the tests on CUDA), memcheck.log / racecheck.log
(compute-sanitizer), bench_cuda.json (benchmarks/bench_cuda.py) and
bench_fuse_cuda.json (benchmarks/bench_fuse_cuda.py); a missing file shows as
"not run". Each criterion is one table row: what was measured, the target, and
whether it holds. The text is ready to paste into benchmarks/RESULTS.md.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET

NOT_RUN = ("not run", "-", "no")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tests_row(out):
    try:
        root = ET.parse(os.path.join(out, "junit.xml")).getroot()
    except (OSError, ET.ParseError):
        return ("All tests pass on CUDA",) + NOT_RUN
    suites = [root] if root.tag == "testsuite" else list(root)
    n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
    # the tests that ran on the GPU: test_cuda.py and every test parametrised with device=cuda
    cuda_passed = sum(1 for case in root.iter("testcase") if len(case) == 0 and
                      (re.search(r"[\[-]cuda[\]-]", case.get("name", "")) or
                       case.get("classname", "").endswith("test_cuda")))
    ok = n["failures"] == 0 and n["errors"] == 0 and cuda_passed > 0
    return ("All tests pass on CUDA", f"{passed} passed ({cuda_passed} of them on CUDA), {n['failures']} failed, "
            f"{n['errors']} errors, {n['skipped']} skipped", "0 failed, 0 errors, CUDA tests run",
            "yes" if ok else "NO")


def sanitizer_row(out, tool):
    try:
        text = open(os.path.join(out, f"{tool}.log"), errors="replace").read()
    except OSError:
        return (f"compute-sanitizer {tool}",) + NOT_RUN
    summary = re.findall(r"ERROR SUMMARY: (\d+) error", text)
    tests = re.findall(r"(\d+) passed", text)
    errors = int(summary[-1]) if summary else None
    measured = (f"{errors} errors" if errors is not None else "no ERROR SUMMARY line (did it finish?)") + \
        (f" over {tests[-1]} tests" if tests else "")
    return (f"compute-sanitizer {tool}", measured, "0 errors", "yes" if errors == 0 and tests else "NO")


def pick(results, **keys):
    for r in results:
        if all(r.get(k) == v for k, v in keys.items()):
            return r
    return None


def ms(seconds):
    return "-" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.4f} ms"


def bench_rows(bench):
    if bench is None:
        return [("bench_cuda criteria",) + NOT_RUN]
    res = bench["results"]
    rows = []
    for size, limit in (("520x520", 1e-4), ("3840x2160", 1e-3)):
        r = pick(res, op="Liu chain (liu_postprocess)", impl="mfif", size=size)
        s = r["seconds"] if r else None
        how = "" if r is None else (" (graph replay)" if r["graph"] else " (eager: capture failed)")
        rows.append((f"Liu post-processing chain {size}, RGB pair", ms(s) + how, f"<= {limit * 1e3:g} ms",
                     "yes" if r and r["graph"] and s <= limit else "NO"))
    for r in res:
        if r["size"] == "1920x1080" and r["impl"] == "reference":
            mine = pick(res, op=r["op"], impl="mfif", size="1920x1080")
            x = r["seconds"] / mine["seconds"]
            rows.append((f"{r['op']} vs its PyTorch reference, 1920x1080", f"x {x:.1f} ({ms(mine['seconds'])})",
                         ">= x 20", "yes" if x >= 20 else "NO"))
    for r in res:
        if r["impl"] == "kornia guided_blur":
            mine = pick(res, op=r["op"], impl="mfif", size=r["size"])
            x = r["seconds"] / mine["seconds"]
            rows.append((f"{r['op']} vs kornia guided_blur, {r['size']}", f"x {x:.1f}", ">= x 5",
                         "yes" if x >= 5 else "NO"))
    if not any(r["impl"] == "kornia guided_blur" for r in res):
        rows.append(("guided_filter vs kornia guided_blur", "kornia missing (wheelhouse not installed?)", ">= x 5",
                     "no"))
    r = pick(res, op="connected_components", impl="mfif", size="3840x2160")
    rows.append(("connected_components, noisy 3840x2160 map", ms(r and r["seconds"]), "<= 1 ms",
                 "yes" if r and r["seconds"] <= 1e-3 else "NO"))
    over = [f"{r['op']} {r['size']} x {r['seconds'] / r['floor_s']:.1f}" for r in res
            if r["impl"] == "mfif" and r["seconds"] > 3 * r["floor_s"] and not r.get("compute_bound")]
    n = sum(r["impl"] == "mfif" and not r.get("compute_bound") for r in res)
    rows.append(("each kernel within 3x of its bandwidth floor", f"{n - len(over)} of {n}" +
                 (f"; over: {'; '.join(over)}" if over else ""), "all", "yes" if not over else "NO"))
    return rows


def fuse_rows(fuse):
    if fuse is None:
        return [("liu2017 520x520 end to end",) + NOT_RUN]
    rows = []
    for impl in ("mfif", "mfif (graph)"):
        r = pick(fuse["results"], method="liu2017", impl=impl, size="520x520")
        s = r["seconds"] if r and not r["error"] else None
        rows.append((f"liu2017 520x520 pair end to end, network included ({impl})",
                     (r["error"][:80] if r and r["error"] else ms(s)), "<= 10 ms",
                     "yes" if s is not None and s <= 1e-2 else "NO"))
    return rows


def main(argv=None) -> int:
    out = (argv or sys.argv[1:] or ["gpu-check-out"])[0]
    bench = load_json(os.path.join(out, "bench_cuda.json"))
    fuse = load_json(os.path.join(out, "bench_fuse_cuda.json"))
    machine = bench or fuse or {}
    rows = [tests_row(out), sanitizer_row(out, "memcheck"), sanitizer_row(out, "racecheck")]
    rows += bench_rows(bench) + fuse_rows(fuse)
    lines = [f"GPU acceptance (issue: run the CUDA half on a real GPU): {machine.get('gpu', 'GPU unknown')}, "
             f"torch {machine.get('torch', '?')}; medians.", "",
             "| criterion | measured | target | holds |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    for name in ("bench_cuda.md", "bench_fuse_cuda.md"):
        path = os.path.join(out, name)
        if os.path.exists(path):
            lines += ["", open(path).read().rstrip()]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "acceptance.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
