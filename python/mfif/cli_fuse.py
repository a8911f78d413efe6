"""``mfif fuse``: fuse two images or a focus stack from the command line."""
from __future__ import annotations

import os
from contextlib import nullcontext

import click
import numpy as np



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


def _same_file(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _check_output(path: str, what: str, inputs: list[str], bits: int | None) -> None:
    """Refuse, before any work, an output that would overwrite an input or cannot be written."""
    import cv2

    for src in inputs:
        if _same_file(path, src):
            raise click.ClickException(f"{what} {path} is one of the input images; mfif never overwrites an input, "
                                       "choose another file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise click.ClickException(f"{what} {path}: folder {folder} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if not ext or not cv2.haveImageWriter(path):
        raise click.ClickException(f"{what} {path}: unknown image format '{ext}'; use .png, .tif or .jpg")
    if bits == 16 and ext in (".jpg", ".jpeg", ".webp", ".bmp"):
        raise click.ClickException(f"{what} {path}: the inputs are 16-bit and '{ext}' holds 8 bits only; "
                                   "use .png or .tif to keep 16 bits")


def _write_json(path: str, data: dict, inputs: list[str]) -> None:
    """Write ``data`` as JSON atomically, never over an input."""
    import json

    for src in inputs:
        if _same_file(path, src):
            raise click.ClickException(f"--transforms {path} is one of the input images; choose another name")
    from .io import atomic_output

    with atomic_output(path, ".json") as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)


def _write_images(out: str, result, depth_map: str | None) -> None:
    """The fused image and the depth map, encoded at once on two threads (OpenCV releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from . import io

    def depth():
        io.write_image(depth_map, result.depth_image(np.uint16 if result.n_frames > 256 else np.uint8))

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mfif-write") as pool:
        jobs = [pool.submit(io.write_image, out, result.fused)]
        if depth_map is not None:
            jobs.append(pool.submit(depth))
        for job in jobs:
            job.result()  # raises the first writer's error


def _parse_tile(value: str):
    v = value.strip().lower()
    if v == "auto":
        return "auto"
    if v in ("none", "off", "0"):
        return None
    try:
        n = int(v)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a number of pixels, 'auto' or 'none'") from None
    if n < 64:
        raise click.BadParameter(f"{n}: tiles smaller than 64 pixels make no sense; give at least 64")
    return n


def _method_help() -> str:
    from . import methods

    names = ", ".join(methods.available())
    return (f"Fusion method: {names}. Default: liu2017 for two images (gff when liu2017 is not "
            "installed), pyramid for three or more.")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, required=True, metavar="IMAGES...")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The fused image (.png, .tif, .jpg). Its bit depth follows the inputs (8 or 16).")
@click.option("-m", "--method", default=None, help=_method_help())
@click.option("-d", "--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--depth-map", "depth_map", default=None, type=click.Path(dir_okay=False),
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
@click.option("--crop", is_flag=True, help="Crop the result to the area that every aligned frame covers.")
@click.option("--transforms", "transforms_out", default=None, type=click.Path(dir_okay=False),
              help="Write the estimated alignment (3x3 matrices in pixels, reference -> frame, gains) as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def fuse(images, out, method, device, depth_map, tile, align, align_model, reference, crop, transforms_out, quiet):
    """Fuse two images or a focus stack into one sharp image.

    IMAGES are image files (8/16-bit PNG, TIFF, JPEG, ...), folders (all the
    images in them, sorted by name) or glob patterns ('stack/*.jpg'). Frames
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
    if transforms_out is not None and align is False:
        raise click.ClickException("--transforms writes the alignment, but --no-align turns it off; drop one")
    try:
        sources = open_sources(list(images))
        bits = bit_depth(sources[0].dtype)
        paths = [s.name for s in sources]
        _check_output(out, "output", paths, bits)
        if depth_map is not None:
            _check_output(depth_map, "depth map", paths, None)
            if _same_file(depth_map, out):
                raise click.ClickException("--depth-map and -o name the same file; give two different names")
        H, W = sources[0].shape[:2]
        # a CPU stack fused with pyramid runs without torch; anything else loads it here
        job, _ = cpu_files.plan(sources, method, device, tile=tile_size)
        if job is not None:
            loads = len(sources) * job.n_tiles
        else:
            from .fusion.stack import as_streaming, bind_size

            stream = bind_size(as_streaming(plan.resolve_method(method, len(sources))), H, W)
            loads = stream.passes * len(sources) * plan.n_tiles(tile_size, H, W, stream)
        bar = _ProgressBar(loads, show=not quiet and loads > 4)
        # a few large frames fused by the CNN: the time is in its score tiles, so they get the bar
        scores = (_ScoreBar(len(sources), H, W) if job is None and not quiet and loads <= 4
                  and getattr(stream, "name", None) == "liu2017" else None)
        options = dict(align="auto" if align is None else align, crop=crop,
                       align_options={"model": align_model, "reference": reference})
        try:
            if job is not None:
                result = cpu_files.fuse_files(job, progress=bar, **options)
            else:
                with scores if scores is not None else nullcontext():
                    result = fuse_api(sources, method=method, device=device, tile=tile_size, progress=bar,
                                      **options)
        finally:
            bar.close()
        _write_images(out, result, depth_map)
        if transforms_out is not None and result.alignment is not None:
            _write_json(transforms_out, result.alignment.summary(), paths)
    except (StackError, io.ImageError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if not quiet:
        depth = "8-bit" if bits == 8 else "16-bit"
        click.echo(f"{result.summary()} -> {out} ({depth})")
        if depth_map is not None:
            used = np.bincount(np.asarray(result.index).ravel(), minlength=result.n_frames)
            share = ", ".join(f"{100 * c / used.sum():.0f}%" for c in used)
            click.echo(f"depth map -> {depth_map} (pixels per frame: {share})")
        if result.alignment is not None and result.alignment.resampled.any():
            for f in result.alignment.summary()["frames"]:
                click.echo(f"  frame {f['index']}: scale {f['scale']:.4f}, rotation {f['rotation_deg']:+.3f} deg, "
                           f"shift ({f['shift_px'][0]:+.1f}, {f['shift_px'][1]:+.1f}) px, "
                           f"gain {'/'.join(f'{g:.3f}' for g in f['gain'])}"
                           + ("" if f["resampled"] else " (not resampled)"))
    return result  # for callers in Python (mfif fuse-many runs this function per stack)
