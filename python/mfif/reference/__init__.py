"""Pure-PyTorch references of every mfif op: short, obviously right, slow."""
from .patch_mean import patch_mean
from .nps_loss import nps_loss
