"""``hf-seg-pp``: HF-Seg's map through liu2017's post-processing (small regions, guided filter)."""
from .hourglass import HFSegMethod

METHOD = HFSegMethod(postprocess=True)
