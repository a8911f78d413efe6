"""Typed wrappers of the mfif ops (``torch.ops.mfif.*``) with argument checks."""
from .patch_mean import patch_mean
from .nps_loss import nps_loss
