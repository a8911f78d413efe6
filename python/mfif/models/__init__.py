"""Neural networks of the fusion methods (weights in :mod:`mfif.weights`)."""
from .liu2017 import LiuBranch, LiuNet, fold_head, load_liu2017

__all__ = ["LiuBranch", "LiuNet", "fold_head", "load_liu2017"]
