"""Pure-PyTorch references of every mfif op: short, obviously right, slow."""
from .filters import box_filter, guided_filter
from .ccl import connected_components, remove_small_regions
from .patch_mean import patch_mean
from .nps_loss import nps_loss
from .score_map import score_map
from .window_argmin import window_argmin
