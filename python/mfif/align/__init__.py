"""Registration of focus stacks: frames moved by focus breathing or a hand-held camera.

Focusing a macro lens changes its magnification (about +-8 % across a deep
stack), so the frames of a stack must be registered before fusion or edges
appear several times. :func:`estimate` registers every frame to a reference
(the middle frame by default) with OpenCV's ECC, coarse to fine on small grey
copies, and matches exposure and white balance per channel; it returns a
:class:`StackAlignment` holding 3x3 transforms in full-size pixel coordinates,
which warps each full frame as the fusion loads it (numpy through OpenCV,
torch tensors through ``grid_sample`` on the GPU, OpenCV on the CPU). Transforms that move no
pixel by more than ``identity_tol`` are not applied, so registered inputs
come out untouched.

Examples:
    >>> import mfif.align
    >>> al = mfif.align.estimate(["f0.jpg", "f1.jpg", "f2.jpg"])     # doctest: +SKIP
    >>> al.summary()["frames"][0]["scale"]                           # doctest: +SKIP
    >>> aligned0 = al.warp(0, mfif.io.read_image("f0.jpg"))          # doctest: +SKIP
"""
from ._ecc import RegistrationError, ecc_pair
from ._exposure import EXPOSURE_MODES
from ._geometry import MODELS, max_displacement, rescale, rms_displacement, valid_box, valid_mask
from ._stack import STRATEGIES, AlignmentWarning, StackAlignment, UntexturedError, align, estimate, iter_aligned
from ._warp import INTERPOLATIONS, warp_array, warp_tensor

__all__ = [
    "EXPOSURE_MODES", "INTERPOLATIONS", "MODELS", "STRATEGIES", "AlignmentWarning", "RegistrationError",
    "StackAlignment", "UntexturedError", "align", "ecc_pair", "estimate", "iter_aligned", "max_displacement",
    "rescale", "rms_displacement", "valid_box", "valid_mask", "warp_array", "warp_tensor",
]
