"""Typed wrappers of the mfif ops (``torch.ops.mfif.*``) with argument checks."""
from .filters import box_filter, guided_filter
from .ccl import connected_components, remove_small_regions
from .patch_mean import patch_mean
from .nps_loss import nps_loss
from . import liu_fusion as _liu_fusion  # noqa: F401  (registers the fake kernel)
from .score_map import score_map
from .window_argmin import window_argmin
from .modules import BoxFilter, GuidedFilter, NPSLoss  # noqa: E402  (nn.Module forms)
