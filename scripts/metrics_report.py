#!/usr/bin/env python
"""Reproducible metrics report against the Liu et al. 2020 survey (../shared/data/reference).

Computes the survey's eight metrics for the published CNN and GFF fused outputs
on the 20 Lytro and 10 grey pairs, reports the worst deviation of each metric
from the survey's per-image values (with issue 5's acceptance tolerances),
writes a Markdown table of mfif's means beside the survey's published rows and
a matplotlib figure comparing them. With --methods it also runs mfif fusion
methods (mfif.methods) on every pair and adds their means.

    python scripts/metrics_report.py                       # -> reports/metrics/
    python scripts/metrics_report.py --methods all         # + every installed mfif method
    python scripts/metrics_report.py --limit 2 --out /tmp/r  # quick check

Needs matplotlib for the figure (pip install 'mfif[report]'); without it the
figure is skipped with a note.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

from mfif import io  # noqa: E402
from mfif import metrics as M  # noqa: E402

SURVEY = M.SURVEY_METRICS
# issue 5's acceptance: absolute deviation (QCV relative); QY: worst 5e-3 and median 1e-5
TOLERANCE = {"QMI": 1e-4, "QNCIE": 1e-4, "QG": 1e-4, "QP": 1e-3, "QE": 1e-3, "QCB": 1e-3, "QCV": 1e-3, "QY": 5e-3}
DATASETS = {"lytro20_color": ("c", "lytro", "lytro-{n}-{s}.jpg", 20),
            "grayscale10": ("g", "grayscale_classic", "grayscale-{n}-{s}.tif", 10)}


def read_reference(ref_dir):
    per_image = {}
    for kind in ("color", "grayscale"):
        with open(os.path.join(ref_dir, f"liu_survey_metrics_{kind}_per_image.csv")) as fh:
            for row in csv.DictReader(fh):
                per_image[(row["image"], row["method"])] = {k: float(row[k]) for k in SURVEY}
    means = {}
    with open(os.path.join(ref_dir, "liu_survey_table_means.csv")) as fh:
        for row in csv.DictReader(fh):
            means.setdefault(row["dataset"], {})[row["method"]] = {k: float(row[k]) for k in SURVEY}
    return per_image, means


def images(data_dir, limit):
    for dataset, (prefix, folder, pattern, count) in DATASETS.items():
        for i in range(1, min(count, limit or count) + 1):
            n = f"{i:02d}"
            srcs = [os.path.join(data_dir, folder, pattern.format(n=n, s=s)) for s in "AB"]
            yield dataset, f"{prefix}_{n}", pattern.split("-")[0] + f"-{n}", srcs


def run_methods(names, a_path, b_path):
    import torch

    import mfif.methods as methods

    out = {}
    a, b = io.read_image(a_path), io.read_image(b_path)

    def t(img):
        x = torch.from_numpy(io.to_float(img))
        return (x[None] if x.dim() == 2 else x.permute(2, 0, 1))[None]

    for name in names:
        with torch.no_grad():
            fused = methods.get(name).fuse_pair(t(a), t(b)).fused
        out[f"mfif-{name}"] = fused[0]  # float in [0, 1]; evaluate quantises to 8 bits as saving would
    return out


def deviation_summary(rows, reference):
    lines = ["| metric | worst deviation | at | median | tolerance | within |", "|---|---|---|---|---|---|"]
    ok_all = True
    for k in SURVEY:
        devs = []
        for (tag, method), vals in rows.items():
            if (tag, method) not in reference:
                continue
            ref = reference[(tag, method)][k]
            d = abs(vals[k] - ref) / (abs(ref) if k == "QCV" else 1.0)
            devs.append((d, f"{tag} {method}"))
        if not devs:
            continue
        worst = max(devs)
        median = float(np.median([d for d, _ in devs]))
        ok = worst[0] <= TOLERANCE[k] and (k != "QY" or median < 1e-5)
        ok_all &= ok
        tol = f"{TOLERANCE[k]:g}" + (" (relative)" if k == "QCV" else "") + (", median < 1e-5" if k == "QY" else "")
        lines.append(f"| {k} | {worst[0]:.2e} | {worst[1]} | {median:.2e} | {tol} | {'yes' if ok else 'NO'} |")
    return lines, ok_all


def means_table(rows, survey_means, tags_by_dataset):
    lines = []
    for dataset, tags in tags_by_dataset.items():
        lines += [f"\n### {dataset} ({len(tags)} images)\n", "| method | source | " + " | ".join(SURVEY) + " |",
                  "|---|---|" + "---|" * len(SURVEY)]
        methods = sorted({m for (t, m) in rows if t in tags})
        for m in methods:
            vals = [rows[(t, m)] for t in tags if (t, m) in rows]
            mean = {k: float(np.mean([v[k] for v in vals])) for k in SURVEY}
            lines.append(f"| {m} | mfif | " + " | ".join(f"{mean[k]:.4f}" for k in SURVEY) + " |")
            pub = survey_means.get(dataset, {}).get(m.upper())
            if pub:
                lines.append(f"| {m} | survey | " + " | ".join(f"{pub[k]:.4f}" for k in SURVEY) + " |")
        for m, pub in survey_means.get(dataset, {}).items():
            if m.lower() not in methods:
                lines.append(f"| {m} | survey | " + " | ".join(f"{pub[k]:.4f}" for k in SURVEY) + " |")
    return lines


def figure(path, rows, survey_means, tags_by_dataset):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'mfif[report]'): no figure"
    fig, axes = plt.subplots(len(tags_by_dataset), len(SURVEY), figsize=(3 * len(SURVEY), 3.2 * len(tags_by_dataset)),
                             squeeze=False)
    for r, (dataset, tags) in enumerate(tags_by_dataset.items()):
        pub = survey_means.get(dataset, {})
        ours = sorted({m for (t, m) in rows if t in tags})
        for c, k in enumerate(SURVEY):
            ax = axes[r][c]
            names = list(pub)
            values = list(pub[n][k] for n in names)
            ax.barh(range(len(names)), values, color="#bbbbbb", label="survey")
            for m in ours:
                v = float(np.mean([rows[(t, m)][k] for t in tags if (t, m) in rows]))
                if m.upper() not in names:
                    names.append(m)
                values.append(v)
                ax.plot([v], [names.index(m.upper() if m.upper() in names else m)], "o",
                        color="#c0392b" if m.startswith("mfif") else "#2c7fb8", ms=5)
            ax.set_yticks(range(len(names)), names, fontsize=6)
            ax.set_title(f"{dataset}: {k}" + (" (lower better)" if k == "QCV" else ""), fontsize=8)
            lo, hi = min(values), max(values)
            ax.set_xlim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.1 * (hi - lo + 1e-9))
            ax.tick_params(axis="x", labelsize=6)
    fig.suptitle("Survey means (bars) and mfif's values (dots: blue = published outputs re-scored, red = mfif methods)",
                 fontsize=9)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    plt.close(fig)
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data")),
                   help="folder with lytro/, grayscale_classic/ and reference/ (default: ../shared/data)")
    p.add_argument("--out", default=os.path.join(HERE, "..", "reports", "metrics"), help="output folder")
    p.add_argument("--methods", nargs="*", default=[], help="mfif methods to run too ('all' = every installed one)")
    p.add_argument("--limit", type=int, default=0, help="only the first N images of each dataset")
    args = p.parse_args(argv)
    ref_dir = os.path.join(args.data, "reference")
    if not os.path.isdir(ref_dir):
        sys.exit(f"reference data not found in {ref_dir}; pass --data (see the project's data README)")
    methods = args.methods
    if methods == ["all"]:
        import mfif.methods as mm
        methods = mm.available()
        if not methods:
            print("no mfif fusion methods are installed yet; scoring the published outputs only", file=sys.stderr)
    reference, survey_means = read_reference(ref_dir)
    os.makedirs(args.out, exist_ok=True)
    rows, tags_by_dataset, seconds = {}, {}, []
    from tqdm import tqdm

    todo = list(images(args.data, args.limit))
    for dataset, tag, stem, (a, b) in tqdm(todo, desc="images", unit="image"):
        tags_by_dataset.setdefault(dataset, []).append(tag)
        fused = {m: os.path.join(ref_dir, "fused", f"{stem}-{m}.png") for m in ("cnn", "gff")}
        if methods:
            fused.update(run_methods(methods, a, b))
        for m, f in fused.items():
            start = time.perf_counter()
            rows[(tag, m)] = M.evaluate(a, b, f, metrics=SURVEY)
            seconds.append(time.perf_counter() - start)
    dev_lines, ok = deviation_summary(rows, reference)
    fig_path = os.path.join(args.out, "metrics_report.png")
    fig_note = figure(fig_path, rows, survey_means, tags_by_dataset)
    md = ["# mfif metrics against the Liu et al. 2020 survey", "",
          f"Images: {sum(len(t) for t in tags_by_dataset.values())} "
          f"({', '.join(f'{d}: {len(t)}' for d, t in tags_by_dataset.items())}); "
          f"median time for the eight metrics of one pair: {np.median(seconds):.2f} s.", "",
          "## Deviation from the survey's per-image values (published CNN and GFF outputs)", ""] + dev_lines
    md += ["", f"All within issue 5's tolerances: {'yes' if ok else 'NO'}.", "",
           "## Means beside the survey's published table", ""]
    md += means_table(rows, survey_means, tags_by_dataset)
    md += ["", f"![survey means and mfif values]({os.path.basename(fig_path)})" if fig_note is None else f"({fig_note})"]
    md_path = os.path.join(args.out, "metrics_report.md")
    with open(md_path + ".tmp", "w") as fh:
        fh.write("\n".join(md) + "\n")
    os.replace(md_path + ".tmp", md_path)
    csv_path = os.path.join(args.out, "metrics_per_image.csv")
    with open(csv_path + ".tmp", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "method"] + SURVEY)
        for (tag, m), vals in rows.items():
            w.writerow([tag, m] + [f"{vals[k]:.6f}" for k in SURVEY])
    os.replace(csv_path + ".tmp", csv_path)
    print("\n".join(dev_lines))
    print(f"wrote {md_path}, {csv_path}" + ("" if fig_note else f", {fig_path}"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
