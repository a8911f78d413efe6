"""``hf-reg``: the HF-Reg hourglass network of paper 002, the regressed image (see :mod:`.hourglass`)."""
from .hourglass import HFRegMethod

METHOD = HFRegMethod()
