"""Small photo folders for tests that need no data set: dead-leaves photos with region maps."""
from __future__ import annotations

import os

import cv2
import numpy as np

from mfif.synthetic import dead_leaves


def photo_and_regions(seed: int, height: int = 96, width: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A dead-leaves photo (float32 [H, W, 3]) and a region map (its first channel in 5 levels)."""
    img = dead_leaves(height, width, seed=seed)
    regions = np.minimum((img[..., 0] * 5).astype(np.int32), 4) + 1
    return img, regions


def write_folder(folder: str, n: int = 3, labels: bool = True, height: int = 96, width: int = 120) -> str:
    """``n`` photos ``<k>.png`` (and ``<k>-seg1.png`` region maps when ``labels``) in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for k in range(n):
        img, regions = photo_and_regions(100 + k, height, width)
        cv2.imwrite(os.path.join(folder, f"{k:03d}.png"), (img[..., ::-1] * 255).round().astype(np.uint8))
        if labels:
            cv2.imwrite(os.path.join(folder, f"{k:03d}-seg1.png"), regions.astype(np.uint8))
    return folder


def astronaut_pair(seed: int = 3, size: tuple[int, int] = (96, 120)):
    """A Gaussian pair (sigma 3) of scikit-image's astronaut photograph, regions by over-segmentation:
    ``(a, b, truth)`` as ``[1, 3, H, W]`` float32 tensors."""
    import skimage.data
    import torch

    from mfif.synthetic import auto_regions, gaussian_pair

    img = (skimage.data.astronaut()[::4, ::4].astype(np.float32) / 255)[:size[0], :size[1]]
    p = gaussian_pair(img, auto_regions(img), np.random.default_rng(seed), sigma=3.0)
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # noqa: E731
    return t(p.a), t(p.b), t(p.truth)


def psnr(x, y) -> float:
    """PSNR in dB of tensor ``x`` against ``y`` (both in [0, 1])."""
    import torch

    return float(10 * torch.log10(1 / ((x - y) ** 2).mean()))
