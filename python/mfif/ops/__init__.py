"""Typed wrappers of the mfif ops (``torch.ops.mfif.*``) with argument checks."""
from .filters import box_filter, guided_filter
from .ccl import connected_components, remove_small_regions
