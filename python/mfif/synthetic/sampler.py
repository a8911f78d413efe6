"""On-the-fly training batches and the fixed validation set of synthetic multi-focus pairs.

:class:`PairSampler` draws crops of photographs (a :class:`~mfif.synthetic.photos.PhotoSet`), a
dihedral flip, and one of the two recipes of :mod:`mfif.synthetic.defocus`. All randomness comes
from one ``numpy.random.Generator`` whose state is saved in checkpoints, so a run resumed from a
checkpoint draws the same batches as an uninterrupted one.

:func:`validation_set` regenerates the same pairs bit for bit from a seed (each photo has its own
generator seeded by ``(seed, index)``), so PSNR/SSIM figures are comparable between runs.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from .defocus import Pair, gaussian_pair, realistic_pair
from .photos import PhotoSet

__all__ = ["PairSampler", "VALIDATION_SEED", "validation_set", "VARIANTS"]

VARIANTS = ("gaussian", "realistic")
VALIDATION_SEED = 2019
MARGIN = 16  # context around a crop, so the blur near its border sees real pixels


def _dihedral(x: np.ndarray, k: int) -> np.ndarray:
    x = np.rot90(x, k % 4)
    return x[:, ::-1] if k >= 4 else x


class PairSampler:
    """Random synthetic multi-focus crops, deterministic for a seed.

    Args:
        photos: the photographs and region maps (or a folder, or a list of folders).
        crop: side of the square crops.
        realistic: probability of the realistic (layered disc defocus) recipe per pair; the rest follow
            the paper's Gaussian recipe.
        seed: seed of the generator.

    ``sample(n)`` returns a dict of float32 numpy arrays: ``a``, ``b``, ``truth`` ``[n, 3, crop, crop]``
    and ``focus`` ``[n, 1, crop, crop]`` (1 where ``a`` is the source to take).

    Examples:
        >>> s = PairSampler("path/to/bsds500/train", crop=128, seed=0)   # doctest: +SKIP
        >>> s.sample(4)["a"].shape                                       # doctest: +SKIP
        (4, 3, 128, 128)
    """

    def __init__(self, photos: PhotoSet | str | list[str], crop: int = 128, realistic: float = 0.5, seed: int = 0):
        self.photos = photos if isinstance(photos, PhotoSet) else PhotoSet(photos)
        if crop < 16:
            raise ValueError(f"crop must be at least 16 pixels, got {crop}")
        if not 0.0 <= realistic <= 1.0:
            raise ValueError(f"realistic must be a probability in [0, 1], got {realistic}")
        self.crop, self.realistic = int(crop), float(realistic)
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict:
        """The generator's state (to store in a checkpoint)."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]

    def pair(self) -> Pair:
        """One crop pair (``[crop, crop, 3]`` images)."""
        rng, c = self.rng, self.crop
        img, regions = self.photos.load(int(rng.integers(len(self.photos))), rng)
        win = c + 2 * MARGIN
        if img.shape[0] < win or img.shape[1] < win:  # small photos: reflect up to the window
            py, px = max(0, win - img.shape[0]), max(0, win - img.shape[1])
            img = cv2.copyMakeBorder(img, 0, py, 0, px, cv2.BORDER_REFLECT)
            regions = cv2.copyMakeBorder(regions.astype(np.int32), 0, py, 0, px, cv2.BORDER_REFLECT)
        y = int(rng.integers(img.shape[0] - win + 1))
        x = int(rng.integers(img.shape[1] - win + 1))
        k = int(rng.integers(8))
        img = np.ascontiguousarray(_dihedral(img[y:y + win, x:x + win], k))
        regions = np.ascontiguousarray(_dihedral(regions[y:y + win, x:x + win], k))
        p = realistic_pair(img, regions, rng) if rng.random() < self.realistic else gaussian_pair(img, regions, rng)
        s = slice(MARGIN, MARGIN + c)
        return Pair(p.a[s, s], p.b[s, s], p.truth[s, s], p.focus[s, s])

    def sample(self, n: int) -> dict[str, np.ndarray]:
        """``n`` crop pairs as channel-first batches (see the class docstring)."""
        pairs = [self.pair() for _ in range(n)]
        chw = lambda key: np.ascontiguousarray(np.stack([getattr(p, key) for p in pairs]).transpose(0, 3, 1, 2))  # noqa: E731
        return {"a": chw("a"), "b": chw("b"), "truth": chw("truth"),
                "focus": np.stack([p.focus for p in pairs])[:, None].copy()}


def validation_set(root: str, variant: str = "gaussian", n: int | None = None,
                   seed: int = VALIDATION_SEED) -> list[Pair]:
    """The fixed validation pairs: whole photos of ``root`` (BSDS500 ``val``), one pair each.

    Photo ``i`` (sorted by file name) uses the generator ``default_rng([seed, i])`` (its region map,
    subset, blur), so a call with the same arguments gives the same arrays bit for bit, and the first
    ``n`` pairs do not depend on ``n``.

    Args:
        root: folder of photos with region maps (BSDS500's ``val``).
        variant: ``"gaussian"`` (paper's recipe) or ``"realistic"``.
        n: number of photos (all when None).
        seed: validation seed.

    Returns:
        a list of :class:`~mfif.synthetic.defocus.Pair` at the photos' full size.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not os.path.isdir(root):
        raise ValueError(f"validation folder {root!r} does not exist (BSDS500 val: <data>/train/bsds500/val)")
    photos = PhotoSet(root, cache=0)
    out = []
    for i in range(len(photos) if n is None else min(n, len(photos))):
        rng = np.random.default_rng([seed, i, VARIANTS.index(variant)])
        img, regions = photos.load(i, rng)
        out.append(gaussian_pair(img, regions, rng) if variant == "gaussian" else realistic_pair(img, regions, rng))
    return out
