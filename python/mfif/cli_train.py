"""``mfif train``: train one of mfif's networks with the one training loop (:mod:`mfif.train`)."""
from __future__ import annotations

import click

TASKS = ("hf-seg", "hf-reg", "liu2017", "wavelet-cnn", "mscnn", "boundary-aware")  # kept in step with mfif.train._TASKS (torch-free import here)


def _parse_set(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --set crop=128)", param_hint="--set")
        out[key.strip().replace("-", "_")] = val.strip()
    return out


@click.command("train")
@click.argument("task", type=click.Choice(TASKS))
@click.option("--data", type=click.Path(file_okay=False), default=None,
              help="Training photos: the data set's train/ folder (bsds500/, ccp/) or any folder of photos, "
                   "with or without region maps. liu2017 needs none (bundled images).")
@click.option("--val", type=click.Path(file_okay=False), default=None,
              help="Validation photos with region maps (default: DATA/bsds500/val when it exists).")
@click.option("--out", default=None, help="Weights file written at the end [default: build/<task>.pt].")
@click.option("--checkpoint", default=None, help="Checkpoint file [default: build/<task>_ckpt.pt].")
@click.option("--log", "log_path", default=None, help="JSON-lines log [default: CHECKPOINT.log.jsonl].")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from the checkpoint when it exists.")
@click.option("--steps", type=int, default=None, help="Length of the learning-rate schedule (task default).")
@click.option("--stop-at", type=int, default=None, help="End after this step (the schedule follows --steps).")
@click.option("--batch", type=int, default=None, help="Examples per step (task default).")
@click.option("--lr", type=float, default=None, help="Peak learning rate of Adam (task default).")
@click.option("--warmup", type=int, default=None, help="Steps of linear learning-rate warm-up.")
@click.option("--seed", type=int, default=None, help="Seed of the initial weights and the data.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Torch CPU threads (a run is reproducible for a fixed count).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--every", type=int, default=None, help="Log, validate and checkpoint every N steps.")
@click.option("--average-from", type=int, default=None,
              help="Ship the mean of the weights at every checkpoint from this step on.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A task option, e.g. --set crop=128 --set realistic=0.5 (hf-*: crop, realistic, channels, "
                   "alpha, val_n; hf-seg also widths, e.g. 16,24,32,48,64, and recon, the weight of an L1 term on the fused image).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_command(task, data, val, out, checkpoint, log_path, resume, steps, stop_at, batch, lr, warmup, seed,
                  threads, device, every, average_from, settings, quiet):
    """Train TASK (hf-seg, hf-reg, liu2017, wavelet-cnn, mscnn or boundary-aware) with a progress bar, checkpoints and a log.

    Example: mfif train hf-seg --data ../data/train --threads 1 --out hf_seg.pt
    """
    from . import train as T

    name = task.replace("_", "-")
    try:
        cfg = T.config(name, out or f"build/{name}.pt", data=data, val=val,
                       checkpoint=checkpoint or f"build/{name}_ckpt.pt", log=log_path, resume=resume, steps=steps,
                       stop_at=stop_at, batch=batch, lr=lr, warmup=warmup, seed=seed, threads=threads,
                       device=device, every=every, average_from=average_from, progress=not quiet,
                       options=_parse_set(settings))
        T.run(T.get_task(name), cfg, echo=click.echo)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
