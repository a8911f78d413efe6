"""Photographs with region maps, the raw material of the synthetic multi-focus pairs.

A :class:`PhotoSet` lists the photographs of a folder (searched recursively)
and the region maps beside them:

- BSDS500: ``<id>.jpg`` with ``<id>-seg<k>.png`` (several human segmentations,
  one is drawn per use);
- Clothing Co-Parsing: ``<id>.jpg`` with ``<id>-labels.png``;
- MF-VOC triplets: ``<id>-sharp.jpg`` (the all-in-focus photo; its ``-A``/``-B``
  sources are skipped). Their focus map is not stored, so the regions are made
  as for unlabelled photos;
- any other photo (a user's own folder): regions from a graph-based
  over-segmentation (Felzenszwalb and Huttenlocher 2004, scikit-image), which
  follows the image's edges as object boundaries do.

Region maps are integer arrays ``[H, W]``; only equality of ids matters.
"""
from __future__ import annotations

import glob
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["Photo", "PhotoSet", "auto_regions"]

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# files that are label maps or the blurred sources of a triplet, never training photos
_NOT_PHOTO = re.compile(r"(-seg\d+|-labels|-A|-B)$", re.IGNORECASE)


@dataclass
class Photo:
    """One photograph and the paths of its region maps (empty: regions made on load)."""

    path: str
    label_paths: list[str] = field(default_factory=list)


def auto_regions(img: np.ndarray, scale: float = 300.0, min_size: int = 200) -> np.ndarray:
    """Region map ``[H, W]`` (int32) of an unlabelled photo by graph-based over-segmentation.

    Args:
        img: ``[H, W, 3]`` or ``[H, W]`` float image in [0, 1] or uint8.
        scale, min_size: Felzenszwalb's parameters (larger: fewer, bigger regions).

    Examples:
        >>> auto_regions(np.zeros((32, 32, 3), np.float32)).shape
        (32, 32)
    """
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(img, scale=scale, sigma=0.8, min_size=min_size).astype(np.int32)


class PhotoSet:
    """The photographs of a folder with their region maps, loaded on demand (small LRU cache).

    Args:
        root: folder searched recursively for images (see the module docstring).
        cache: how many decoded photos to keep in memory.

    Raises:
        ValueError: if the folder does not exist or holds no image.

    Examples:
        >>> ps = PhotoSet("path/to/bsds500/train")           # doctest: +SKIP
        >>> img, regions = ps.load(0, np.random.default_rng(0))  # doctest: +SKIP
    """

    def __init__(self, root: str | list[str], cache: int = 256):
        roots = [root] if isinstance(root, str) else list(root)
        photos: list[Photo] = []
        for r in roots:
            if not os.path.isdir(r):
                raise ValueError(f"training data folder {r!r} does not exist; give --data a folder of photos")
            photos += self._scan(r)
        if not photos:
            raise ValueError(f"no images ({', '.join(_IMAGE_EXT)}) under {', '.join(roots)}; "
                             "give --data a folder of photos")
        self.photos = photos
        self._cache: OrderedDict[int, tuple[np.ndarray, list[np.ndarray]]] = OrderedDict()
        self._cache_size = cache

    @staticmethod
    def _scan(root: str) -> list[Photo]:
        files = sorted(p for p in glob.glob(os.path.join(root, "**", "*"), recursive=True)
                       if p.lower().endswith(_IMAGE_EXT))
        out = []
        for p in files:
            stem, _ = os.path.splitext(p)
            if _NOT_PHOTO.search(stem):
                continue
            labels = sorted(glob.glob(glob.escape(stem) + "-seg*.png")) + sorted(glob.glob(glob.escape(stem)
                                                                                          + "-labels.png"))
            out.append(Photo(p, labels))
        return out

    def __len__(self) -> int:
        return len(self.photos)

    def _decoded(self, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        ph = self.photos[i]
        img = read_rgb(ph.path)
        maps = []
        for lp in ph.label_paths:
            lab = cv2.imread(lp, cv2.IMREAD_UNCHANGED)
            if lab is None or lab.shape[:2] != img.shape[:2]:
                raise ValueError(f"{lp}: unreadable or not the size of {ph.path}")
            maps.append(lab if lab.ndim == 2 else lab[..., 0])
        if not maps:
            maps = [auto_regions(img)]
        self._cache[i] = (img, maps)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return img, maps

    def load(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Photo ``i`` as float32 ``[H, W, 3]`` in [0, 1] and one of its region maps (drawn with ``rng``)."""
        img, maps = self._decoded(i)
        k = int(rng.integers(len(maps))) if len(maps) > 1 else 0
        return img, maps[k]


def read_rgb(path: str) -> np.ndarray:
    """An 8- or 16-bit image file as float32 RGB ``[H, W, 3]`` in [0, 1] (grey is repeated)."""
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"{path}: not a readable image")
    if raw.ndim == 2:
        raw = np.repeat(raw[..., None], 3, axis=2)
    rgb = np.ascontiguousarray(raw[..., 2::-1]) if raw.shape[2] >= 3 else np.repeat(raw[..., :1], 3, axis=2)
    scale = 65535.0 if rgb.dtype == np.uint16 else 255.0
    return rgb.astype(np.float32) / scale
