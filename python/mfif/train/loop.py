"""The one training loop of mfif's networks.

A network is trained by registering a :class:`Task` (in :mod:`mfif.train`): its network, its data
(a sampler with ``sample(n)`` and a saveable state), its batch -> loss function, its validation and
its export. :func:`run` does the rest the same way for every task: seeding, thread count, device,
Adam with a warm-up + cosine learning-rate schedule, a tqdm progress bar, a log of the loss and the
validation metrics (JSON lines), atomic checkpoints every ``every`` steps, resumption from the
checkpoint (the sampler's generator, torch's RNG, the optimizer and the schedule are restored, so a
resumed run gives the same weights as an uninterrupted one), optional averaging of the weights over
the last checkpoints, and the final weights file.

Reproducibility: for a fixed torch version, device and ``threads`` the weights are the same bit for
bit from run to run (CPU; on CUDA only with deterministic kernels).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from ..io import atomic_output

__all__ = ["Task", "TrainConfig", "run"]


@dataclass
class TrainConfig:
    """Settings of one training run (the ``mfif train`` options).

    Attributes:
        task: the registered task name (``"hf-seg"``, ``"hf-reg"``, ``"liu2017"``, ...).
        data: folder of training photos (see the task), or None for the task's default.
        val: folder of validation photos, or None for the task's default (none if absent).
        out: the weights file written at the end.
        checkpoint: checkpoint file (written every ``every`` steps; resumed from when ``resume``).
        log: JSON-lines log file (None: ``checkpoint`` + ``.log.jsonl``).
        steps: length of the learning-rate schedule.
        stop_at: end after this step (the schedule still follows ``steps``); None: ``steps``.
        batch: training examples per step (for pair tasks: pairs, each also given in swapped order).
        lr: peak learning rate (Adam).
        warmup: steps of linear warm-up.
        seed: seed of the weights' initialisation and of the data.
        threads: torch CPU threads (part of what makes a run reproducible).
        device: ``"cpu"``, ``"cuda"``, ...
        every: log, validate and checkpoint every this many steps.
        average_from: if set, the shipped weights are the mean of the weights at every checkpoint
            step from this one on.
        resume: continue from ``checkpoint`` when it exists.
        progress: show a tqdm progress bar.
        options: task-specific settings (e.g. ``crop``, ``realistic``).
    """

    task: str
    out: str
    data: str | None = None
    val: str | None = None
    checkpoint: str | None = None
    log: str | None = None
    steps: int = 1000
    stop_at: int | None = None
    batch: int = 4
    lr: float = 1e-3
    warmup: int = 20
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    every: int = 100
    average_from: int | None = None
    resume: bool = True
    progress: bool = True
    options: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """What a trainable network registers (see :mod:`mfif.train.hourglass` for an example).

    Attributes:
        name: the task's name on the command line.
        defaults: default values of :class:`TrainConfig` fields (``steps``, ``batch``, ``lr``, ...)
            and of its ``options``, applied where the user gave none.
    """

    name: str
    defaults: dict[str, Any]

    def build(self, cfg: TrainConfig) -> torch.nn.Module:
        """A freshly initialised network (called right after ``torch.manual_seed(cfg.seed)``)."""

    def data(self, cfg: TrainConfig) -> Any:
        """The training sampler: ``sample(n)`` -> a batch, ``state_dict()``, ``load_state_dict(s)``."""

    def loss(self, model: torch.nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, dict]:
        """The scalar loss of a batch (with gradient) and floats to log (e.g. accuracy)."""

    def validate(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        """Validation figures (called in eval mode without gradients; may return {})."""

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        """Metadata stored beside the weights (the loop adds the training settings)."""


def _schedule(steps: int, warmup: int):
    def factor(s: int) -> float:
        return min(1.0, (s + 1) / max(warmup, 1)) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    return factor


def _save(obj: Any, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with atomic_output(path, ".pt") as tmp:
        torch.save(obj, tmp)


def run(task: Task, cfg: TrainConfig, echo=print) -> dict[str, Any]:
    """Train ``task`` with ``cfg``; write ``cfg.out`` and return its metadata.

    Args:
        task: the registered task.
        cfg: the run's settings.
        echo: where the log lines go besides the log file (``print``, ``click.echo``, ...).

    Returns:
        the metadata stored in the weights file.
    """
    if cfg.steps < 1:
        raise ValueError(f"steps must be at least 1, got {cfg.steps}")
    if cfg.batch < 1:
        raise ValueError(f"batch must be at least 1, got {cfg.batch}")
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch sees no CUDA device; use --device cpu")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = task.build(cfg).to(device)
    sampler = task.data(cfg)
    # a task may give parameter groups (e.g. a higher learning rate for a head)
    params = task.param_groups(model, cfg) if hasattr(task, "param_groups") else model.parameters()
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg.steps, cfg.warmup))
    step, elapsed, avg_sum, avg_count = 0, 0.0, None, 0
    log_path = cfg.log or ((cfg.checkpoint or cfg.out) + ".log.jsonl")
    if cfg.resume and cfg.checkpoint and os.path.exists(cfg.checkpoint):
        ck = torch.load(cfg.checkpoint, map_location="cpu", weights_only=False)
        if ck.get("task") != task.name:
            raise ValueError(f"checkpoint {cfg.checkpoint} is of task {ck.get('task')!r}, not {task.name!r}; "
                             "give another --checkpoint or --no-resume")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        sampler.load_state_dict(ck["data"])
        torch.set_rng_state(ck["torch_rng"])
        step, elapsed = ck["step"], ck["elapsed"]
        avg_sum, avg_count = ck.get("avg_sum"), ck.get("avg_count", 0)
        echo(f"resumed {task.name} at step {step} from {cfg.checkpoint}")
    elif os.path.exists(log_path):
        os.replace(log_path, log_path + ".old")  # a fresh run starts a fresh log
    last = min(cfg.steps, cfg.stop_at or cfg.steps)
    bar = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=last, initial=step, desc=f"train {task.name}", unit="step", dynamic_ncols=True)
    t_start = time.time() - elapsed
    sums: dict[str, float] = {}
    n_sum = 0
    try:
        while step < last:
            model.train()
            loss, stats = task.loss(model, sampler.sample(cfg.batch), device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            for k, v in {"loss": float(loss.detach()), **stats}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_sum += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{sums['loss'] / n_sum:.4f}", refresh=False)
            if step % cfg.every == 0 or step == last:
                model.eval()
                with torch.no_grad():
                    val = task.validate(model, cfg, device)
                record = {"step": step, **{k: round(v / n_sum, 6) for k, v in sums.items()},
                          **{f"val_{k}": round(float(v), 5) for k, v in val.items()},
                          "lr": sched.get_last_lr()[0], "minutes": round((time.time() - t_start) / 60, 2)}
                sums, n_sum = {}, 0
                os.makedirs(os.path.dirname(os.path.abspath(log_path)) or ".", exist_ok=True)
                with open(log_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                (bar.write if bar is not None else echo)(" ".join(f"{k} {v}" for k, v in record.items()))
                if cfg.average_from is not None and step >= cfg.average_from:
                    cur = {k: v.detach().double().cpu().clone() for k, v in model.state_dict().items()}
                    avg_sum = cur if avg_sum is None else {k: avg_sum[k] + cur[k] for k in cur}
                    avg_count += 1
                if cfg.checkpoint:
                    _save({"task": task.name, "model": model.state_dict(), "opt": opt.state_dict(),
                           "sched": sched.state_dict(), "data": sampler.state_dict(),
                           "torch_rng": torch.get_rng_state(), "step": step, "elapsed": time.time() - t_start,
                           "avg_sum": avg_sum, "avg_count": avg_count}, cfg.checkpoint)
    finally:
        if bar is not None:
            bar.close()
    total = time.time() - t_start
    if avg_count:
        model.load_state_dict({k: (v / avg_count).to(next(iter(model.state_dict().values())).dtype)
                               for k, v in avg_sum.items()})
    model.eval()
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    # paths stay out of the file (they name the trainer's machine); the task describes its data
    settings = {k: v for k, v in asdict(cfg).items()
                if k not in ("progress", "resume", "log", "checkpoint", "out", "data", "val")}
    meta = {**task.export(model, cfg), "train": settings, "stop_at": last, "averaged": avg_count,
            "minutes": round(total / 60, 1), "torch": str(torch.__version__)}
    _save({"model": state, "meta": meta}, cfg.out)
    echo(f"wrote {cfg.out} after {total / 60:.1f} min of training")
    return meta
