"""Synthetic multi-focus data whose all-in-focus truth is known.

- :mod:`.procedural`: generated scenes (dead leaves, smooth focus masks, moving focus stacks);
  no data files needed.
- :mod:`.photos`: photographs with region maps (BSDS500, Clothing Co-Parsing, MF-VOC, or any folder
  of photos, over-segmented when it has no labels).
- :mod:`.defocus`: pairs from one photo and its regions: the Gaussian recipe of paper 002 (eq. 1)
  and a realistic layered disc-defocus variant with noise and gain mismatch.
- :mod:`.sampler`: on-the-fly training batches (deterministic per seed, resumable) and the fixed
  validation set.

Examples:
    >>> from mfif.synthetic import dead_leaves, gaussian_pair
    >>> import numpy as np
    >>> img = dead_leaves(64, 64, seed=1)
    >>> regions = (img[..., 0] * 4).astype(int)
    >>> gaussian_pair(img, regions, np.random.default_rng(0)).focus.shape
    (64, 64)
"""
from .defocus import Pair, disc_blur, gaussian_pair, oracle, realistic_pair, region_subset
from .photos import Photo, PhotoSet, auto_regions, read_rgb
from .procedural import dead_leaves, focus_mask, moving_stack, multifocus_pair
from .sampler import VALIDATION_SEED, VARIANTS, PairSampler, validation_set

__all__ = ["Pair", "Photo", "PhotoSet", "PairSampler", "VALIDATION_SEED", "VARIANTS", "auto_regions",
           "dead_leaves", "disc_blur", "focus_mask", "gaussian_pair", "moving_stack", "multifocus_pair", "oracle",
           "read_rgb", "realistic_pair", "region_subset", "validation_set"]
