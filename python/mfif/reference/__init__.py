"""Pure-PyTorch references of every mfif op: short, obviously right, slow."""
from .ccl import connected_components, remove_small_regions
