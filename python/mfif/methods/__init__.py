"""Fusion methods, discoverable by name.

Each method lives in its own module of this package and exposes a module-level
``METHOD`` object following :class:`mfif.methods.base.FusionMethod`. The
registry maps names to modules and imports them lazily, so importing mfif
never loads a model it does not use.

Examples:
    >>> import mfif.methods as M
    >>> "gff" in M.available()
    True
    >>> method = M.get("gff")          # a fresh copy: changing it changes no other call
    >>> method.r1 = 20
    >>> M.get("gff").r1
    45

The method classes are importable from here too (``mfif.methods.GFF(r1=20)``);
each one loads its module (and torch) on first use.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util

from .base import FusionMethod, FusionResult

# name -> module (relative to this package). Add a method by adding a line.
_REGISTRY: dict[str, str] = {
    "liu2017": ".liu2017",  # CNN of Liu et al. 2017 (paper 001, section II)
    "gff": ".gff",          # guided filtering fusion (Li, Kang, Hu 2013)
    "pyramid": ".pyramid",  # one-pass Laplacian-pyramid selection (Burt and Kolczynski 1993)
    "focus": ".focus",      # Laplacian-energy argmax + guided-filter blend: fast default for stacks
    "quadtree": ".quadtree",  # quadtree with a weighted focus measure (Bai, Zhang, Zhou, Xue 2015)
    "dsift": ".dsift",      # dense SIFT activity + matching refinement (Liu, Liu, Wang 2015)
    "hf-seg": ".hf_seg",    # HF-Seg hourglass network (paper 002), weighted average of its softmax map
    "hf-seg-pp": ".hf_seg_pp",  # HF-Seg's map post-processed like liu2017 (small regions, guided filter)
    "hf-reg": ".hf_reg",    # HF-Reg hourglass network (paper 002), the regressed image
    "dwt": ".dwt",          # multilevel DWT: mean approximation, max-activity details, consistency check
    "wavelet-cnn": ".wavelet_cnn",  # wavelet-domain CNN (Li, Yuan, Fan 2019; paper 001's title)
    "mscnn": ".mscnn",      # unsupervised multi-scale CNN (Mustafa et al. 2019, paper 003)
    "mscnn-pp": ".mscnn_pp",  # mscnn's map post-processed like liu2017 (small regions, guided filter)
    "boundary-aware": ".boundary_aware",  # two-stage boundary-aware network (paper 000, Ma et al. 2019)
}


def available() -> list[str]:
    """Names of the fusion methods this install provides."""
    out = []
    for name, mod in _REGISTRY.items():
        if importlib.util.find_spec(mod, __name__) is not None:
            out.append(name)
    return out


# class name -> module: the method classes, for users who build a method with their own parameters
_CLASSES: dict[str, str] = {
    "Liu2017": ".liu2017",
    "GFF": ".gff",
    "PyramidStack": ".pyramid",
    "PyramidParams": ".pyramid_params",
    "FocusStack": ".focus",
    "Quadtree": ".quadtree",
    "DSIFT": ".dsift",
    "HFSegMethod": ".hourglass",
    "HFRegMethod": ".hourglass",
    "MSCNNMethod": ".mscnn",
    "BoundaryAwareMethod": ".boundary_aware",
    "FusionModule": ".module",
    "StackResult": ".streaming",
}


def get(name: str) -> FusionMethod:
    """A new method object for the method called ``name`` (see :func:`available`).

    Every call returns an independent copy of the module's ``METHOD``, so
    changing its parameters (``m.r1 = 20``) affects that object only.

    Args:
        name: a registered name, any case.

    Returns:
        The method object (it has ``name`` and ``fuse_pair``; streaming methods
        also ``passes``/``start``/``add``/``finish``).

    Raises:
        ValueError: the name is not registered.
    """
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown fusion method {name!r}; choose one of {', '.join(available())}")
    return copy.deepcopy(importlib.import_module(_REGISTRY[key], __name__).METHOD)


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_CLASSES))


__all__ = ["FusionMethod", "FusionResult", "available", "get", *_CLASSES]
