"""Training of mfif's networks: one loop (:func:`mfif.train.loop.run`), tasks registered by name.

Add a network by writing a task (its network, data sampler, batch -> loss, validation, export; the
:class:`~mfif.train.loop.Task` protocol) and one line in ``_TASKS``; ``mfif train NAME`` then
trains it with the same progress bar, checkpoints, resumption, log and reproducibility as the rest.

Examples:
    >>> from mfif.train import available_tasks
    >>> "hf-seg" in available_tasks()
    True
"""
from __future__ import annotations

import importlib
from typing import Any

from .loop import Task, TrainConfig, run

# name -> (module relative to this package, factory attribute, its arguments)
_TASKS: dict[str, tuple[str, str, tuple]] = {
    "hf-seg": (".hourglass", "HourglassTask", ("hf-seg",)),  # paper 002, HF-Seg (eq. 3)
    "hf-reg": (".hourglass", "HourglassTask", ("hf-reg",)),  # paper 002, HF-Reg (eq. 4, NPS loss)
    "liu2017": (".liu2017", "Liu2017Task", ()),              # paper 001, the siamese focus network
    "wavelet-cnn": (".wavelet", "WaveletCNNTask", ()),  # paper 001's wavelet-domain CNN (Li, Yuan, Fan 2019)
    "mscnn": (".wavelet", "MSCNNTask", ()),  # paper 003 (Mustafa et al. 2019), unsupervised SSIM loss
    "boundary-aware": (".boundary_aware", "BoundaryAwareTask", ()),  # paper 000 (Ma et al. 2019), stage two
}


def available_tasks() -> list[str]:
    """Names of the trainable networks."""
    return list(_TASKS)


def get_task(name: str) -> Task:
    """A fresh task object for ``name`` (see :func:`available_tasks`)."""
    if name not in _TASKS:
        raise ValueError(f"unknown training task {name!r}; choose one of {', '.join(_TASKS)}")
    mod, attr, args = _TASKS[name]
    return getattr(importlib.import_module(mod, __name__), attr)(*args)


def config(name: str, out: str, **given: Any) -> TrainConfig:
    """A :class:`TrainConfig` for task ``name``: the task's defaults, overridden by ``given`` (None values
    are ignored; ``options`` are merged key by key)."""
    task = get_task(name)
    values = {k: v for k, v in task.defaults.items() if k != "options"}
    values.update({k: v for k, v in given.items() if v is not None and k != "options"})
    options = dict(task.defaults.get("options", {}))
    for k, v in (given.get("options") or {}).items():
        if k not in options:
            raise ValueError(f"task {name} has no option {k!r}; its options: {', '.join(options) or 'none'}")
        options[k] = type(options[k])(v) if options[k] is not None and not isinstance(v, type(options[k])) else v
    return TrainConfig(task=name, out=out, options=options, **values)


__all__ = ["Task", "TrainConfig", "available_tasks", "config", "get_task", "run"]
