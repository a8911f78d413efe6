"""``mfif evaluate``: score fused results (files or mfif methods) with the survey's metrics.

Sources are grouped by file name: ``<name>-<letter>.<ext>`` (``lytro-01-A.jpg``,
``lytro-01-B.jpg``, ...) forms group ``<name>`` with its sources in letter order.
Fused results are looked up per group in each ``--fused`` folder (``<name>.<ext>``
or a single ``<name>-*.<ext>``) or through a path template holding ``{name}``
(``results/{name}-cnn.png``); ``--method`` runs an mfif fusion method instead.
"""
from __future__ import annotations

import csv
import glob
import itertools
import os
import re
import warnings

import click
import numpy as np

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")
_SOURCE_NAME = re.compile(r"^(?P<name>.+)-(?P<letter>[A-Za-z])$")


def group_sources(folder: str) -> dict[str, list[str]]:
    """``{name: [source paths in letter order]}`` for the ``<name>-<letter>.<ext>`` files of ``folder``."""
    if not os.path.isdir(folder):
        raise click.BadParameter(f"{folder} is not a folder", param_hint="SOURCES")
    groups: dict[str, list[tuple[str, str]]] = {}
    for entry in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(entry)
        m = _SOURCE_NAME.match(stem)
        if ext.lower() in IMAGE_EXTS and m:
            groups.setdefault(m["name"], []).append((m["letter"].upper(), os.path.join(folder, entry)))
    out = {name: [p for _, p in sorted(items)] for name, items in groups.items() if len(items) >= 2}
    if not out:
        raise click.BadParameter(f"no source groups in {folder}: expected files named <name>-A.<ext>, <name>-B.<ext>, ...",
                                 param_hint="SOURCES")
    return out


def _label(spec: str) -> str:
    if "{name}" in spec:
        base = os.path.splitext(os.path.basename(spec))[0].replace("{name}", "").strip("-_ ")
        return base or os.path.basename(os.path.dirname(spec)) or spec
    return os.path.basename(os.path.normpath(spec))


def find_fused(spec: str, name: str) -> str | None:
    """The fused file of group ``name`` for a folder or ``{name}`` template ``spec`` (None if absent)."""
    if "{name}" in spec:
        path = spec.replace("{name}", name)
        return path if os.path.isfile(path) else None
    exact = [p for p in glob.glob(os.path.join(glob.escape(spec), glob.escape(name) + ".*"))
             if os.path.splitext(p)[1].lower() in IMAGE_EXTS]
    if len(exact) == 1:
        return exact[0]
    loose = [p for p in glob.glob(os.path.join(glob.escape(spec), glob.escape(name) + "-*.*"))
             if os.path.splitext(p)[1].lower() in IMAGE_EXTS
             and not _SOURCE_NAME.match(os.path.splitext(os.path.basename(p))[0])]
    if len(exact) + len(loose) > 1:
        raise click.UsageError(f"{spec}: several results match group {name!r} "
                               f"({', '.join(sorted(os.path.basename(p) for p in exact + loose))}); "
                               f"pass a template such as {os.path.join(spec, name + '-cnn.png').replace(name, '{name}')}")
    return loose[0] if loose else None


def _load_method(name: str):
    from . import methods

    try:
        return methods.get(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--method") from None
    except ImportError as exc:
        raise click.BadParameter(f"fusion method {name!r} is registered but not installed in this build ({exc}); "
                                 f"available: {', '.join(methods.available()) or 'none'}", param_hint="--method") from None


def _pairwise_mean(sources, fused, metrics, device):
    """Metrics of a fused image against N sources: the mean over all source pairs (mfif's convention for N > 2)."""
    from . import metrics as M

    rows = [M.evaluate(a, b, fused, metrics=metrics, device=device) for a, b in itertools.combinations(sources, 2)]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def _write_csv(path: str, header: list[str], rows: list[list]) -> None:
    from .io import atomic_output

    with atomic_output(path, ".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def format_table(header: list[str], rows: list[list]) -> str:
    """Plain fixed-width table; floats with 6 decimals."""
    cells = [[f"{v:.6f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = lambda r: "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _fuse_aligned(method, srcs: list[str], device: str, align):
    """Fuse ``srcs`` as ``mfif fuse`` would (the same alignment rule) and return the fused image, the frames
    the fusion used (the aligned sources, as stored: uint8/uint16) and a note saying what was done."""
    from .align._fusion import align_sources
    from .fusion import fuse, open_sources

    sources, _, note = align_sources(open_sources(srcs), "auto" if align is None else align)
    frames = [f[..., 0] if f.shape[2] == 1 else f for f in (s.load() for s in sources)]
    result = fuse(frames, method=method, device=device, align="off")
    return result.fused, frames, note


@click.command("evaluate")
@click.argument("sources", type=click.Path(exists=True, file_okay=False))
@click.option("-f", "--fused", "fused_specs", multiple=True,
              help="Folder of fused results, or a path template with {name} (e.g. out/{name}-cnn.png). Repeatable.")
@click.option("-m", "--method", "method_names", multiple=True, help="An mfif fusion method to run on each pair. Repeatable.")
@click.option("--metrics", "metric_list", default=None,
              help="Comma-separated metric names (default: QMI,QNCIE,QG,QP,QE,QY,QCB,QCV,QTE).")
@click.option("--csv", "csv_path", type=click.Path(), default=None, help="Write the per-image values here.")
@click.option("--save-fused", type=click.Path(file_okay=False), default=None,
              help="Folder for the results of --method runs, written as lossless PNG.")
@click.option("--align/--no-align", "align", default=None,
              help="For --method runs: register the sources first, as `mfif fuse` does (default: when a pair "
                   "moves by more than 0.5 % of the diagonal). Results are scored against the frames the fusion used.")
@click.option("--device", default="cpu", show_default=True, help="torch device for the metrics and methods.")
def evaluate_command(sources, fused_specs, method_names, metric_list, csv_path, save_fused, align, device):
    """Score fused images against the sources in SOURCES with the survey's metrics.

    \b
    SOURCES is a folder of source images named <name>-A.<ext>, <name>-B.<ext>
    (-C, ... for more sources): each <name> is one image set, its sources in
    letter order (lytro-01-A.jpg and lytro-01-B.jpg form set lytro-01). A
    --fused folder holds <name>.<ext> (or a single <name>-*.<ext>) per set.

    Prints per-image values and the mean of each result set, and writes them as
    CSV with --csv. Evaluate lossless results: JPEG artefacts lower the scores
    (QMI by about 0.04 on lytro), so JPEG results draw a warning. A --method
    run aligns the sources as `mfif fuse` does and is scored against the
    aligned sources (the frames it fused); the output says when this happened.
    """
    try:
        _evaluate(sources, fused_specs, method_names, metric_list, csv_path, save_fused, align, device)
    except (ValueError, TypeError, OSError) as exc:  # io.ImageError and StackError are ValueErrors
        raise click.ClickException(str(exc)) from None


def _evaluate(sources, fused_specs, method_names, metric_list, csv_path, save_fused, align, device):
    from tqdm import tqdm

    from . import io
    from . import metrics as M
    from .fusion.api import resolve_device

    if not fused_specs and not method_names:
        raise click.UsageError("give at least one --fused folder/template or --method")
    names = None
    if metric_list:
        names = [m.strip() for m in metric_list.split(",") if m.strip()]
        try:
            names = [M._canonical(n) for n in names]
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--metrics") from None
        if any(n in M.TRUTH_METRICS for n in names):
            raise click.BadParameter("SSIM, PSNR and MAE need a ground truth, which `mfif evaluate` does not take yet",
                                     param_hint="--metrics")
    device = str(resolve_device(device))
    groups = group_sources(sources)
    methods = [(n, _load_method(n)) for n in method_names]
    for spec in fused_specs:
        if "{name}" not in spec and not os.path.isdir(spec):
            raise click.BadParameter(f"{spec} is neither a folder nor a template containing {{name}}", param_hint="--fused")
    # every file read, found before any work, so that no output can be written over one of them
    found = {(g, s): find_fused(s, g) for g in groups for s in fused_specs}
    inputs = [p for srcs in groups.values() for p in srcs] + [p for p in found.values() if p is not None]
    if csv_path:
        io.check_output_path(csv_path, inputs, "--csv")
    if save_fused:
        os.makedirs(save_fused, exist_ok=True)
        for g in groups:
            for label, _ in methods:
                io.check_output_path(os.path.join(save_fused, f"{g}-{label}.png"), inputs + ([csv_path] if csv_path else []),
                                     "--save-fused result")
    columns = names or M.DEFAULT_METRICS
    rows, jpeg_warned = [], set()
    jobs = [(g, kind, spec) for g in groups for kind, spec in
            [("file", s) for s in fused_specs] + [("method", m) for m in methods]]
    for group, kind, spec in tqdm(jobs, desc="evaluate", unit="image", disable=None):
        srcs = groups[group]
        if kind == "file":
            label, path = _label(spec), found[(group, spec)]
            if path is None:
                warnings.warn(f"{spec}: no result for {group}; skipped")
                continue
            if os.path.splitext(path)[1].lower() in (".jpg", ".jpeg") and spec not in jpeg_warned:
                jpeg_warned.add(spec)
                click.echo(f"warning: {spec} holds JPEG results; lossy compression lowers the scores "
                           "(QMI by about 0.04 on lytro); evaluate lossless files", err=True)
            fused, scored = io.read_image(path), srcs
        else:
            label, method = spec
            if len(srcs) != 2:
                warnings.warn(f"{group}: {len(srcs)} sources; --method runs fuse_pair on pairs only; skipped")
                continue
            fused, scored, note = _fuse_aligned(method, srcs, device, align)
            if not note.startswith("not aligned"):
                click.echo(f"{group} ({label}): {note}; scored against the aligned sources", err=True)
            if save_fused:
                io.write_image(os.path.join(save_fused, f"{group}-{label}.png"), fused)
        try:
            if len(srcs) == 2:
                scores = M.evaluate(scored[0], scored[1], fused, metrics=names, device=device)
            else:
                scores = _pairwise_mean(scored, fused, names, device)
        except (ValueError, TypeError) as exc:
            what = f"{path}" if kind == "file" else f"{label} on {group}"
            raise click.ClickException(f"{what}: {exc}") from None
        rows.append([group, label] + [scores[c] for c in columns])
    if not rows:
        raise click.ClickException("nothing was evaluated (no results found)")
    labels = list(dict.fromkeys(r[1] for r in rows))
    means = [["mean", lab] + [float(np.mean([r[2 + i] for r in rows if r[1] == lab])) for i in range(len(columns))]
             for lab in labels]
    header = ["image", "result"] + columns
    click.echo(format_table(header, rows + means))
    if csv_path:
        _write_csv(csv_path, header, rows + means)
        click.echo(f"wrote {csv_path}")
