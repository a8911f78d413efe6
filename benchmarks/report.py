"""Turn a pytest-benchmark JSON file into the Markdown tables of RESULTS.md.

    python benchmarks/report.py benchmarks/results.json > benchmarks/RESULTS.md

For every (op, size, threads) it lists the median time of each implementation
and its ratio to mfif's (>1 means mfif is faster).
"""
from __future__ import annotations

import datetime
import json
import platform
import sys
from collections import defaultdict


def machine(info: dict) -> str:
    cpu = info.get("cpu", {}).get("brand_raw") or platform.processor() or "unknown CPU"
    cores = info.get("cpu", {}).get("count", "?")
    return f"{cpu}, {cores} cores, Python {info.get('python_version', '?')}"


def main(path: str) -> None:
    data = json.load(open(path))
    rows = defaultdict(dict)
    for bench in data["benchmarks"]:
        e = bench["extra_info"]
        rows[(e["op"], e["size"], e["threads"])][e["impl"]] = bench["stats"]["median"]
    impls = []
    for r in rows.values():
        impls += [i for i in r if i != "mfif" and i not in impls]
    date = data.get("datetime", datetime.datetime.now().isoformat())[:10]
    print(f"Run on {date}, {machine(data.get('machine_info', {}))}.")
    print("Median times; `x N` = that implementation's time / mfif's (higher: mfif faster).\n")
    print("| op | size | threads | mfif | " + " | ".join(impls) + " |")
    print("|---|---|---|---|" + "---|" * len(impls))
    order = {"520x520": 0, "1920x1080": 1, "3840x2160": 2}
    for (op, size, threads), r in sorted(rows.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9), kv[0][2])):
        mine = r.get("mfif")
        cells = []
        for impl in impls:
            t = r.get(impl)
            if t is None:
                cells.append("")
            elif mine:
                cells.append(f"{t * 1e3:.2f} ms (x {t / mine:.1f})")
            else:
                cells.append(f"{t * 1e3:.2f} ms")
        mine_s = f"{mine * 1e3:.3f} ms" if mine else ""
        print(f"| {op} | {size} | {threads} | {mine_s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
