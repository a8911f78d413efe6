"""``mfif fuse-many``: many stacks on dask.distributed, each fused as ``mfif fuse`` fuses it.

The command takes every option of ``mfif fuse`` (copied from it, so an option
added there appears here too) and hands them to each stack's task. dask is
imported only when the command runs: the other commands never load it.
"""
from __future__ import annotations

import click

from .cli_fuse import fuse as _fuse

_PER_STACK = ("images", "out", "depth_map", "transforms_out", "quiet")


@click.command("fuse-many", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("stacks", nargs=-1, required=True, metavar="STACKS...")
@click.option("-o", "--out", "out", required=True,
              help="Output path template: {name} is the stack's folder name, {index} its position from 0 "
                   "(e.g. 'out/{name}.tif'). Missing folders are created.")
@click.option("--depth-map", "depth_map", default=None, help="Template of the depth maps ('out/{name}-depth.png').")
@click.option("--transforms", "transforms_out", default=None,
              help="Template of the alignment JSON files ('out/{name}.json').")
@click.option("--scheduler", default=None,
              help="Address of a running dask scheduler (tcp://host:8786); its workers must see the stacks and "
                   "the output folder at the same paths. Default: a local cluster on this machine.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local cluster (default: one per core).")
@click.option("--threads-per-worker", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stacks each worker fuses at once (and the threads each stack gets).")
@click.option("--force", is_flag=True, help="Fuse every stack again, even those whose outputs are complete.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; only the failures.")
def fuse_many(stacks, out, depth_map, transforms_out, scheduler, workers, threads_per_worker, force, quiet,
              **options):
    """Fuse many focus stacks, one task per stack, on a dask cluster.

    STACKS are folders of frames or patterns: 'run/*/' gives one stack per
    folder, 'run/a/*.tif' one stack of those files. Each stack is fused
    exactly as `mfif fuse STACK -o OUT` would fuse it (every option of mfif
    fuse applies to each stack), with its outputs written atomically. A stack
    whose outputs are complete from an earlier run (same frames, same
    options) is skipped, so a stopped run can simply be started again; a
    stack that fails does not stop the others. Exit status 1 when a stack failed.

    \b
    Examples:
      mfif fuse-many 'run/*/' -o 'out/{name}.tif' --depth-map 'out/{name}-depth.png'
      mfif fuse-many 'run/*/' -o 'out/{name}.tif' --workers 8 --method focus
      mfif fuse-many 'run/*/' -o 'out/{name}.tif' --scheduler tcp://10.0.0.5:8786
    """
    try:
        from .distributed import fuse_many as run
    except ImportError as e:
        raise click.ClickException(str(e)) from None
    from .fusion import StackError

    bar = None

    def started(todo, skipped):
        nonlocal bar
        if not quiet:
            if skipped:
                click.echo(f"{skipped} of {todo + skipped} stacks are complete already: skipped")
            from tqdm import tqdm

            bar = tqdm(total=todo, unit="stack", desc="fusing", disable=None)

    def arrived(outcome):
        if bar is not None:
            bar.update(1)
            if outcome.status == "failed" and not bar.disable:  # the summary lists it at the end
                bar.write(f"failed: {outcome.name}: {outcome.error}")

    try:
        report = run(list(stacks), out, depth_maps=depth_map, transforms=transforms_out, scheduler=scheduler,
                     workers=workers, threads_per_worker=threads_per_worker, force=force, on_start=started,
                     on_outcome=arrived, **options)
    except (StackError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        if bar is not None:
            bar.close()
    lines = report.summary().splitlines()
    if not quiet:
        click.echo(lines[0])
    for line in lines[1:]:
        click.echo(line, err=True)
    if report.failed:
        raise SystemExit(1)


# every option of `mfif fuse` that is not about one stack's files
fuse_many.params.extend(p for p in _fuse.params if p.name not in _PER_STACK)
