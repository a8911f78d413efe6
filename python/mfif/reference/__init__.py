"""Pure-PyTorch references of every mfif op: short, obviously right, slow."""
from .filters import box_filter, guided_filter
from .ccl import connected_components, remove_small_regions
