"""``mfif fuse``: fuse two images or a focus stack from the command line."""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext

import click
import numpy as np

from . import methods as _methods  # the registry only: no torch


class _ProgressBar:
    """A tqdm bar (frame loads of long stacks, or liu2017's score tiles of large pairs), on a terminal only."""

    def __init__(self, total: int, show: bool, unit: str = "frame", desc: str = "fusing"):
        self.bar = None
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc, leave=False, disable=None)

    def __call__(self, n: int):
        if self.bar is not None and n:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _ScoreBar:
    """While entered: a bar over liu2017's score tiles (:data:`mfif.methods.liu2017.score_progress`), shown
    when the pairs need more than one tile each (above about 1 Mpx)."""

    def __init__(self, n_frames: int, height: int, width: int):
        from .methods.liu2017 import score_progress, score_tiles

        per_pair = score_tiles(height, width)
        self.bar = _ProgressBar((n_frames - 1) * per_pair, show=per_pair > 1, unit="tile", desc="scoring")
        self.progress, self.token = score_progress, None

    def __enter__(self):
        self.token = self.progress.set(lambda done, total: self.bar(1))
        return self

    def __exit__(self, *exc):
        self.progress.reset(self.token)
        self.bar.close()
        return False


def _check_output(path: str, what: str, inputs: list[str], bits: int | None) -> None:
    """Refuse, before any work, an output that would overwrite an input or cannot be written."""
    import cv2

    from .io import check_output_path

    check_output_path(path, inputs, what)
    ext = os.path.splitext(path)[1].lower()
    if not ext or not cv2.haveImageWriter(path):
        raise click.ClickException(f"{what} {path}: unknown image format '{ext}'; use .png, .tif or .jpg")
    if bits == 16 and ext in (".jpg", ".jpeg", ".webp", ".bmp"):
        raise click.ClickException(f"{what} {path}: the inputs are 16-bit and '{ext}' holds 8 bits only; "
                                   "use .png or .tif to keep 16 bits")


def _write_json(path: str, data: dict, inputs: list[str]) -> None:
    """Write ``data`` as JSON atomically, never over an input."""
    import json

    from .io import atomic_output, refuse_input

    refuse_input(path, inputs, "--transforms")
    with atomic_output(path, ".json") as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)


def _write_images(out: str, result, depth_map: str | None, quality: int | None = None) -> None:
    """The fused image (with the first frame's EXIF/ICC) and the depth map, encoded at once on two threads,
    written all or none."""
    from . import io

    items = [(out, result.fused, result.metadata, quality)]
    if depth_map is not None:
        items.append((depth_map, result.depth_image(np.uint16 if result.n_frames > 256 else np.uint8)))
    io.write_images(items)


def _named(summary: dict, names: list[str]) -> dict:
    """The alignment summary with each frame's file name beside its index."""
    for f in summary.get("frames", []):
        f["name"] = os.path.basename(names[f["index"]]) if f["index"] < len(names) else None
    return summary


def _parse_tile(value: str):
    from .fusion.plan import parse_tile
    from .fusion.sources import StackError

    try:
        return parse_tile(value)
    except StackError as e:
        raise click.ClickException(f"--tile: {e}") from None


def _method_help() -> str:
    return ("Fusion method (see the README's table). Default: liu2017 for two images (gff when liu2017 is not "
            "installed), pyramid for three or more.")


def _parse_value(text: str, current):
    """``text`` as the type of the parameter's current value (bool, int, float, None-able, str)."""
    t = text.strip()
    if t.lower() in ("none", "null"):
        return None
    if isinstance(current, bool):
        if t.lower() in ("1", "true", "yes", "on"):
            return True
        if t.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("give true or false")
    if isinstance(current, int):
        return int(t)
    if isinstance(current, float) or current is None:
        try:
            return int(t) if current is None else float(t)
        except ValueError:
            return float(t)
    return t


def method_parameters(method) -> dict:
    """The parameters ``--param`` may set on a method object: its public attributes."""
    fixed = ("name", "passes", "net", "weights")
    return {k: v for k, v in vars(method).items() if not k.startswith("_") and k not in fixed}


def _with_params(method: str | None, n_frames: int, params: tuple[str, ...]):
    """The method (a name, or an object with ``--param`` values set); a clear error for a bad parameter."""
    if not params:
        return method
    from .fusion.plan import method_name

    name = method_name(method, n_frames)
    if name == "pyramid":  # its parameters alone, so that the CPU stack path still runs without torch
        from .methods.pyramid_params import PyramidParams

        obj = PyramidParams()
    else:
        obj = _methods.get(name)
    known = method_parameters(obj)
    for item in params:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise click.BadParameter(f"{item!r}: {name} has no parameter {key!r}; give NAME=VALUE with NAME one of "
                                     f"{', '.join(sorted(known))}", param_hint="--param")
        try:
            setattr(obj, key, _parse_value(value, known[key]))
        except ValueError as e:
            raise click.BadParameter(f"{item!r}: {e}", param_hint="--param") from None
    return obj


def _set_threads(n: int | None) -> None:
    """Use at most ``n`` CPU threads in OpenCV and torch (set before torch loads, when it is not loaded yet),
    and none of mfif's own helper threads when ``n`` is 1 (:mod:`mfif._threads`)."""
    if n is None:
        return
    import sys

    import cv2

    from . import _threads

    _threads.set_max_threads(n)

    cv2.setNumThreads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)


def _set_logging(verbose: int, quiet: bool) -> None:
    """``-v``: mfif's info log on stderr, ``-vv``: its debug log; ``-q``: errors only. Warnings go through it."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("mfif").setLevel(level)
    logging.captureWarnings(True)


def _write_aligned(folder: str, sources, options: dict, quality: int | None, inputs: list[str]) -> list[str]:
    """``--align-only``: each frame aligned (as it would be fused), written into ``folder`` under its own name."""
    from . import io
    from .align._fusion import align_sources

    os.makedirs(folder, exist_ok=True)
    aligned, alignment, note = align_sources(sources, "on", options["crop"], options["align_options"])
    written = []
    for i, src in enumerate(aligned):
        base = os.path.basename(src.name) if os.path.isfile(src.name) else f"frame-{i + 1:03d}.png"
        path = os.path.join(folder, base)
        _check_output(path, "aligned frame", inputs, None)
        img = src.load()
        meta = io.read_metadata(src.name) if os.path.isfile(src.name) else {}
        io.write_image(path, img[..., 0] if img.shape[2] == 1 else img, meta, quality)
        written.append(path)
    click.echo(f"{note} -> {len(written)} frames in {folder}/")
    return written


# output paths are plain click.Path()s: io.check_output_path refuses folders, missing folders and
# inputs in one line, before any work
@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, required=True, metavar="IMAGES...")
@click.option("-o", "--out", "out", default=None, type=click.Path(),
              help="The fused image (.png, .tif, .jpg). Its bit depth follows the inputs (8 or 16); 8-bit outputs "
                   "keep the first frame's EXIF and colour profile.")
@click.option("-m", "--method", default=None, type=click.Choice(_methods.available(), case_sensitive=False),
              help=_method_help())
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Set a parameter of the method, e.g. --param r1=45 for gff (repeatable; a wrong name lists "
                   "the method's parameters).")
@click.option("-d", "--device", default=None, type=click.Choice(["cpu", "cuda"], case_sensitive=False),
              help="Where to compute (default: cuda when a GPU and mfif's CUDA kernels are there). cuda is the "
                   "current GPU; choose another with CUDA_VISIBLE_DEVICES.")
@click.option("--jpeg-quality", "quality", default=95, show_default=True, type=click.IntRange(1, 100),
              help="Quality of JPEG (and WebP) outputs.")
@click.option("--depth-map", "depth_map", default=None, type=click.Path(),
              help="Also write the index map: which frame each pixel came from, first frame black, "
                   "last white (for a pair: the decision map, black where the first image was taken).")
@click.option("--tile", "tile", default="auto", show_default=True,
              help="Tile side in pixels for very large frames (tiles overlap, the result is the same), "
                   "'auto' (tiles above 24 MP) or 'none'.")
@click.option("--align/--no-align", "align", default=None,
              help="Register the frames before fusing (focus breathing, camera shake). Default: stacks of "
                   "three or more frames when a frame moves by more than 1 px, a pair when it moves by "
                   "more than 0.5 % of the diagonal.")
@click.option("--align-model", default="similarity", show_default=True,
              type=click.Choice(["translation", "euclidean", "similarity", "affine", "homography"]),
              help="Motion model of the alignment (homography for hand-held stacks).")
@click.option("--reference", "reference", default=None, type=int,
              help="Frame the others are aligned to (0-based; default: the middle one).")
@click.option("--crop/--no-crop", "crop", default=False, show_default=True,
              help="Crop the result to the area that every aligned frame covers. mfif keeps the full frame by "
                   "default (borders that a moved frame does not cover come from the other frames); focus-stack "
                   "crops by default (its --nocrop keeps them).")
@click.option("--align-only", "align_only", default=None, type=click.Path(file_okay=False),
              help="Only align: write the aligned frames into this folder (under their own names) and stop.")
@click.option("--transforms", "transforms_out", default=None, type=click.Path(),
              help="Write the estimated alignment (3x3 matrices in pixels, reference -> frame, gains) as JSON.")
@click.option("--threads", default=None, type=click.IntRange(1), help="Use at most this many CPU threads.")
@click.option("-v", "--verbose", count=True, help="Log what mfif does (-vv: in detail).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary; errors only.")
def fuse(images, out, method, params, device, quality, depth_map, tile, align, align_model, reference, crop,
         align_only, transforms_out, threads, verbose, quiet):
    """Fuse two images or a focus stack into one sharp image.

    IMAGES are image files (8/16-bit PNG, TIFF, JPEG, ...), folders (their
    images in natural order, img_9 before img_10; an image whose name breaks
    the others' numbered pattern, such as an earlier result, is left out with
    a warning) or glob patterns ('stack/*.jpg'). Frames
    are streamed from disk, so stacks of hundreds of frames need the memory
    of a few. Outputs are written atomically and never over an input.

    \b
    Examples:
      mfif fuse near.jpg far.jpg -o fused.png --depth-map decision.png
      mfif fuse stack/ -o fused.tif --depth-map depth.png
      mfif fuse 'stack/*.tif' -o fused.tif --method gff --device cuda
    """
    from . import io
    from .fusion import StackError, bit_depth, cpu_files, fuse as fuse_api, open_sources, plan

    tile_size = _parse_tile(tile)
    _set_logging(verbose, quiet)
    _set_threads(threads)
    if out is None and align_only is None:
        raise click.UsageError("give the output image with -o (or --align-only FOLDER to only align the frames)")
    if align_only is not None and align is False:
        raise click.UsageError("--align-only aligns the frames, but --no-align turns alignment off; drop one")
    if transforms_out is not None and align is False:
        raise click.ClickException("--transforms writes the alignment, but --no-align turns it off; drop one")
    try:
        sources = open_sources(list(images))
        bits = bit_depth(sources[0].dtype)
        paths = [s.name for s in sources]
        method = _with_params(method, len(sources), params)
        options = dict(align="auto" if align is None else align, crop=crop,
                       align_options={"model": align_model, "reference": reference})
        if align_only is not None:
            _write_aligned(align_only, sources, options, quality, paths)
            if out is None:
                return
        _check_output(out, "output", paths, bits)
        if depth_map is not None:
            _check_output(depth_map, "depth map", paths, None)
            if io.same_file(depth_map, out):
                raise click.ClickException("--depth-map and -o name the same file; give two different names")
        if transforms_out is not None:
            io.check_output_path(transforms_out, paths, "--transforms")
            if any(io.same_file(transforms_out, o) for o in (out, depth_map) if o is not None):
                raise click.ClickException("--transforms names the same file as an image output; give another name")
        H, W = sources[0].shape[:2]
        # a CPU stack fused with pyramid runs without torch; anything else loads it here
        job, _ = cpu_files.plan(sources, method, device, tile=tile_size)
        if job is not None:
            loads = len(sources) * job.n_tiles
        else:
            from .fusion.stack import as_streaming, bind_size

            stream = bind_size(as_streaming(plan.resolve_method(method, len(sources), (H, W))), H, W)
            loads = stream.passes * len(sources) * plan.n_tiles(tile_size, H, W, stream)
        bar = _ProgressBar(loads, show=not quiet and loads > 4)
        # a few large frames fused by the CNN: the time is in its score tiles, so they get the bar
        scores = (_ScoreBar(len(sources), H, W) if job is None and not quiet and loads <= 4
                  and getattr(stream, "name", None) == "liu2017" else None)
        try:
            if job is not None:
                result = cpu_files.fuse_files(job, progress=bar, **options)
            else:
                with scores if scores is not None else nullcontext():
                    result = fuse_api(sources, method=method, device=device, tile=tile_size, progress=bar,
                                      **options)
        finally:
            bar.close()
        _write_images(out, result, depth_map, quality)
        if transforms_out is not None and result.alignment is not None:
            _write_json(transforms_out, _named(result.alignment.summary(), result.frame_names), paths)
    except (StackError, io.ImageError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    if not quiet:
        depth = "8-bit" if bits == 8 else "16-bit"
        click.echo(f"{result.summary()} -> {out} ({depth})")
        names = [os.path.basename(n) for n in result.frame_names]
        if depth_map is not None:
            used = np.bincount(np.asarray(result.index).ravel(), minlength=result.n_frames)
            share = [f"{name} {100 * c / used.sum():.0f}%" for name, c in zip(names, used)]
            if result.n_frames == 2:
                legend = f"black: {share[0]}, white: {share[1]}"
            else:  # frame k is grey k * top / (N - 1), as depth_image writes it
                top = 65535 if result.n_frames > 256 else 255
                legend = f"frame k at grey k*{top}/{result.n_frames - 1}; pixels per frame: {', '.join(share)}"
            click.echo(f"depth map -> {depth_map} ({legend})")
        if result.alignment is not None and result.alignment.resampled.any():
            for f in result.alignment.summary()["frames"]:
                click.echo(f"  {names[f['index']]}: scale {f['scale']:.4f}, rotation {f['rotation_deg']:+.3f} deg, "
                           f"shift ({f['shift_px'][0]:+.1f}, {f['shift_px'][1]:+.1f}) px, "
                           f"gain {'/'.join(f'{g:.3f}' for g in f['gain'])}"
                           + ("" if f["resampled"] else " (not resampled)"))
    return result  # for callers in Python (mfif fuse-many runs this function per stack)
