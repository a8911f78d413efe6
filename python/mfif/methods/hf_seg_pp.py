"""``hf-seg-pp``: HF-Seg's map through liu2017's post-processing (small regions, guided filter; its
radius 1 and eps 0.01, see :class:`HFSegMethod`)."""
from .hourglass import HFSegMethod

METHOD = HFSegMethod(postprocess=True)
