"""Fusion methods, discoverable by name.

Each method lives in its own module of this package and exposes a module-level
``METHOD`` object following :class:`mfif.methods.base.FusionMethod`. The
registry maps names to modules and imports them lazily, so importing mfif
never loads a model it does not use.

Examples:
    >>> import mfif.methods as M
    >>> "gff" in M.available()
    True
    >>> method = M.get("gff")
"""
from __future__ import annotations

import importlib
import importlib.util

from .base import FusionMethod, FusionResult

# name -> module (relative to this package). Add a method by adding a line.
_REGISTRY: dict[str, str] = {
    "liu2017": ".liu2017",  # CNN of Liu et al. 2017 (paper 001, section II)
    "gff": ".gff",          # guided filtering fusion (Li, Kang, Hu 2013)
    "pyramid": ".pyramid",  # one-pass Laplacian-pyramid selection (Burt and Kolczynski 1993)
    "focus": ".focus",      # Laplacian-energy argmax + guided-filter blend: fast default for stacks
    "hf-seg": ".hf_seg",    # HF-Seg hourglass network (paper 002), weighted average of its softmax map
    "hf-seg-pp": ".hf_seg_pp",  # HF-Seg's map post-processed like liu2017 (small regions, guided filter)
    "hf-reg": ".hf_reg",    # HF-Reg hourglass network (paper 002), the regressed image
    "dwt": ".dwt",          # multilevel DWT: mean approximation, max-activity details, consistency check
    "wavelet-cnn": ".wavelet_cnn",  # wavelet-domain CNN (Li, Yuan, Fan 2019; paper 001's title)
    "mscnn": ".mscnn",      # unsupervised multi-scale CNN (Mustafa et al. 2019, paper 003)
}


def available() -> list[str]:
    """Names of the fusion methods this install provides."""
    out = []
    for name, mod in _REGISTRY.items():
        if importlib.util.find_spec(mod, __name__) is not None:
            out.append(name)
    return out


def get(name: str) -> FusionMethod:
    """The fusion method called ``name`` (see :func:`available`)."""
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown fusion method {name!r}; choose one of {', '.join(available())}")
    return importlib.import_module(_REGISTRY[key], __name__).METHOD


__all__ = ["FusionMethod", "FusionResult", "available", "get"]
