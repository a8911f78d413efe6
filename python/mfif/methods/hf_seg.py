"""``hf-seg``: the HF-Seg hourglass network of paper 002, fused by eq. 2 (see :mod:`.hourglass`)."""
from .hourglass import HFSegMethod

METHOD = HFSegMethod()
