"""Loading the shipped weights of mfif's pair networks (``wavelet-cnn``, ``mscnn``).

A weights file is what :func:`mfif.train.run` writes: ``{"model": state_dict, "meta": {...}}``,
the meta holding the network's size (``width``, ...). Networks are cached per (file, device,
dtype), so a method object can be copied freely and still loads its file once.
"""
from __future__ import annotations

import copy
import os
from functools import lru_cache

import torch

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")

# task name -> (weights file name, module, class, meta keys passed to the class)
NETWORKS = {
    "wavelet-cnn": ("wavelet_cnn.pt", "wavelet_cnn", "WaveletCNN", ("width", "dilations")),
    "mscnn": ("mscnn.pt", "mscnn", "MSCNN", ("width", "branch", "scales")),
}


def default_path(kind: str) -> str:
    """The shipped weights file of network ``kind``."""
    return os.path.join(WEIGHTS_DIR, NETWORKS[kind][0])


@lru_cache(maxsize=None)
def _load_cpu(kind: str, path: str) -> torch.nn.Module:
    import importlib

    if not os.path.isfile(path):
        raise FileNotFoundError(f"the {kind} weights are missing: {path}; reinstall mfif, or train them with "
                                f"`mfif train {kind} --data <photos> --out {path}`")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"cannot read the {kind} weights {path}: {e}") from e
    meta = saved.get("meta", {}) if isinstance(saved, dict) else {}
    if meta.get("kind", kind) != kind:
        raise ValueError(f"{path} holds {meta.get('kind')!r} weights, not {kind!r}")
    _, module, cls, keys = NETWORKS[kind]
    net_cls = getattr(importlib.import_module(f".{module}", __package__), cls)
    kwargs = {k: (tuple(meta[k]) if isinstance(meta[k], list) else meta[k]) for k in keys if k in meta}
    net = net_cls(**kwargs)
    net.load_state_dict(saved["model"] if "model" in saved else saved)
    return net.eval().requires_grad_(False)


_DEVICE_CACHE: dict = {}


def load_pair_net(kind: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                  path: str | None = None) -> torch.nn.Module:
    """Network ``kind`` (``"wavelet-cnn"`` or ``"mscnn"``) with its shipped (or given) weights, in eval mode.

    Raises:
        FileNotFoundError: the weights file is missing (the message says how to train it).
    """
    if kind not in NETWORKS:
        raise ValueError(f"unknown network {kind!r}; choose one of {', '.join(NETWORKS)}")
    path = os.path.abspath(path or default_path(kind))
    key = (kind, path, str(torch.device(device)), dtype)
    if key not in _DEVICE_CACHE:
        _DEVICE_CACHE[key] = copy.deepcopy(_load_cpu(kind, path)).to(device=device, dtype=dtype)
    return _DEVICE_CACHE[key]
