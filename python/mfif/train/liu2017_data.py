"""Training data of the Liu et al. 2017 focus network (paper 001, section II c), for ``mfif train liu2017``.

Grey images (the natural photographs bundled with scikit-image, also at half size, and procedural
dead-leaves scenes), five blur levels of a cascaded 7x7 Gaussian of sigma 2, 32x32 crop pairs of a
sharp and a blurred level in both orders with shared flips/rotations, brightness/contrast jitter, a
small gain mismatch and sensor noise; optional disc (pillbox) stacks and two-layer occlusion-defocus
scenes (:func:`layered_scenes`, :class:`LayeredSampler`). Each 32x32 crop gives the network's 9x9 dense
scores, each that of a 16x16 patch pair, labelled per crop (or per window for layered scenes) and
weighted by the sharp window's variance (the paper's threshold). The README's "Liu 2017 model"
section lists where this differs from the paper.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..models.liu2017 import PATCH, STRIDE
from ..pipeline import RGB_TO_GREY
from ..synthetic import dead_leaves

# natural images bundled with scikit-image (no download); clock_motion is
# motion-blurred and the binary/synthetic ones carry no texture, so they are left out
SKIMAGE_IMAGES = ["astronaut", "brick", "camera", "cat", "cell", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text",
                  "stereo_motorcycle"]
LEVELS = 5            # blur levels (paper)
SIGMA, KSIZE = 2.0, 7  # Gaussian of each blur step (paper)
VAR_MIN = 25.0 / 255.0**2  # variance threshold of the sharp patch (paper: 25 on 0..255)
CROP = 32


def grey(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    if img.ndim == 3:
        img = img[..., :3] @ np.asarray(RGB_TO_GREY, np.float32)
    return np.ascontiguousarray(img, np.float32)


def source_images(n_dead_leaves: int, seed: int) -> list[np.ndarray]:
    import skimage.data

    out = []
    for name in SKIMAGE_IMAGES:
        loaded = getattr(skimage.data, name)()
        # stereo_motorcycle gives (left, right, disparity): both views
        for img in loaded[:2] if isinstance(loaded, tuple) else [loaded]:
            img = grey(img)
            out.append(img)
            out.append(cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA))
    for k in range(n_dead_leaves):
        out.append(grey(dead_leaves(320, 320, seed=seed + k)))
    return out


DISC_RADII = (1.0, 2.0, 3.0, 4.0, 6.0)  # --blur mixed: lens-like (pillbox) defocus levels


def disc_levels(img: np.ndarray) -> np.ndarray:
    """[LEVELS + 1, H, W]: level 0 the image, level k a pillbox (disc) blur of radius DISC_RADII[k-1]."""
    levels = [img]
    for r in DISC_RADII:
        n = int(np.ceil(r)) * 2 + 1
        yy, xx = np.mgrid[:n, :n] - n // 2
        k = np.clip(r + 0.5 - np.sqrt(yy**2 + xx**2), 0, 1).astype(np.float32)  # anti-aliased disc
        levels.append(cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT))
    return np.stack(levels)


def disc_blur(img: np.ndarray, r: float) -> np.ndarray:
    """Pillbox (anti-aliased disc) blur of radius ``r``, reflected borders."""
    n = int(np.ceil(r)) * 2 + 1
    yy, xx = np.mgrid[:n, :n] - n // 2
    k = np.clip(r + 0.5 - np.sqrt(yy**2 + xx**2), 0, 1).astype(np.float32)
    return cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


LAYERED_SIZE = 160   # side of a layered scene
LAYERED_RADII = (1.5, 8.0)  # disc radius range of the defocused layer


def occluder(rng: np.random.Generator, size: int) -> np.ndarray:
    """Alpha matte of a foreground in front of the background: a mesh of thick lines (fences, branches)
    or a few large blobs (objects), anti-aliased, float32 [size, size] in [0, 1]."""
    big = np.zeros((size * 4, size * 4), np.uint8)  # drawn at 4x, then area-averaged: soft edges
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):  # one or two families of parallel lines
            ang, period = rng.uniform(0, np.pi), rng.uniform(24, 90) * 4
            width = int(rng.uniform(2, 12) * 4)
            d = np.array([np.cos(ang), np.sin(ang)]); nrm = np.array([-d[1], d[0]])
            off = rng.uniform(0, period)
            for c in np.arange(-2 * size * 4, 2 * size * 4, period) + off:
                p0 = nrm * c + d * (-8 * size) + size * 2; p1 = nrm * c + d * (8 * size) + size * 2
                cv2.line(big, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 255, width)
    else:
        for _ in range(int(rng.integers(1, 4))):
            pts = (rng.random((int(rng.integers(3, 7)), 2)) * size * 4).astype(np.int32)
            cv2.fillPoly(big, [cv2.convexHull(pts)], 255)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def layered_scenes(images: list[np.ndarray], n: int, rng: np.random.Generator,
                   size: int = LAYERED_SIZE, mattes: list | None = None) -> list[np.ndarray]:
    """``n`` two-layer defocus scenes, each ``[4, S, S]``: (near focus, far focus, all-in-focus truth, matte).

    A textured foreground (alpha matte from :func:`occluder`) in front of a background, both cut from
    ``images``. Focused near: foreground sharp over the disc-blurred background. Focused far: the
    disc-blurred foreground (its matte blurred too, so it spreads as a halo over the background, as a
    real lens does) over the sharp background. ``mattes``, if given, receives each scene's alpha matte.
    """
    S = size
    big = [im for im in images if min(im.shape) >= S]
    out = []
    for _ in range(n):
        bg_img, fg_img = (big[int(rng.integers(len(big)))] for _ in range(2))
        crop = lambda im: im[(y := int(rng.integers(im.shape[0] - S + 1))):y + S,  # noqa: E731
                             (x := int(rng.integers(im.shape[1] - S + 1))):x + S]
        bg, fg = crop(bg_img), crop(fg_img)
        if rng.random() < 0.3:  # plain dark/bright occluders (wire, bars) as well as textured ones
            fg = np.full_like(fg, rng.uniform(0, 1)) + 0.2 * (fg - fg.mean())
        alpha = occluder(rng, S)
        if mattes is not None:
            mattes.append(alpha)
        r_far, r_near = rng.uniform(*LAYERED_RADII, 2)
        near = alpha * fg + (1 - alpha) * disc_blur(bg, r_far)
        far = disc_blur(alpha * fg, r_near) + (1 - disc_blur(alpha, r_near)) * bg
        truth = alpha * fg + (1 - alpha) * bg
        out.append(np.stack([near, far, truth, alpha]).astype(np.float32))
    return out


class LayeredSampler:
    """Crop pairs from :func:`layered_scenes` with a label per 16x16 window.

    ``label="truth"``: the source closer to the all-in-focus truth (mean squared error over the window)
    is "in focus". ``label="coverage"``: the near-focused source is "in focus" where the foreground covers
    more than half of the window (its matte's mean), the far-focused one elsewhere, so a straddling
    window goes to the layer that fills most of it. Windows where the two sources are about equally
    far from the truth (flat areas, both blurred alike) get weight 0 in both modes.
    """

    def __init__(self, scenes: list[np.ndarray], rng: np.random.Generator, label: str = "truth"):
        if label not in ("truth", "coverage"):
            raise ValueError(f"label must be 'truth' or 'coverage', got {label!r}")
        self.scenes, self.rng, self.label = scenes, rng, label

    def sample(self, n: int):
        rng = self.rng
        crops = np.empty((n, 4, 1, CROP, CROP), np.float32)
        near_first = np.empty(n, bool)
        for t in range(n):
            s = self.scenes[int(rng.integers(len(self.scenes)))]
            y, x = (int(rng.integers(0, s.shape[i] - CROP + 1)) for i in (1, 2))
            k = int(rng.integers(8))
            c = np.stack([_dihedral(ch, k) for ch in s[:, y:y + CROP, x:x + CROP]])
            gain, offset = rng.uniform(0.5, 1.3), rng.uniform(-0.15, 0.15)
            mean = c[:2].mean()
            c[:3] = (c[:3] - mean) * gain + mean + offset
            noise = rng.uniform(0.0, 0.012)
            c[:2] += rng.normal(0, noise, c[:2].shape).astype(np.float32)
            near_first[t] = rng.random() >= 0.5
            if not near_first[t]:
                c = c[[1, 0, 2, 3]]
            crops[t, :, 0] = c
        c = torch.from_numpy(crops)
        a, b, truth, alpha = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
        err_a = F.avg_pool2d((a - truth) ** 2, PATCH, STRIDE)[:, 0]
        err_b = F.avg_pool2d((b - truth) ** 2, PATCH, STRIDE)[:, 0]
        hi = torch.maximum(err_a, err_b)
        weights = ((hi > 2e-4) & ((err_a - err_b).abs() > 0.3 * hi)).float()
        if self.label == "truth":
            target = (err_b < err_a).long()  # class 0: first is in focus
        else:
            near_wins = F.avg_pool2d(alpha, PATCH, STRIDE)[:, 0] > 0.5
            first_wins = torch.where(torch.from_numpy(near_first)[:, None, None], near_wins, ~near_wins)
            target = (~first_wins).long()
            weights = (hi > 2e-4).float()
        return a, b, target, weights


def blur_levels(img: np.ndarray) -> np.ndarray:
    """[LEVELS + 1, H, W]: level 0 the image, level k the image blurred k times."""
    levels = [img]
    for _ in range(LEVELS):
        levels.append(cv2.GaussianBlur(levels[-1], (KSIZE, KSIZE), SIGMA, borderType=cv2.BORDER_REFLECT))
    return np.stack(levels)


class PairSampler:
    """Random crop pairs (first, second, label, window weights) from the blur stacks."""

    def __init__(self, stacks: list[np.ndarray], rng: np.random.Generator, p_blurred_pair: float = 0.25,
                 jitter: bool = True):
        self.stacks = [s for s in stacks if min(s.shape[1:]) >= CROP]
        area = np.array([s.shape[1] * s.shape[2] for s in self.stacks], np.float64)
        self.p_image = np.sqrt(area) / np.sqrt(area).sum()  # big images a bit more often
        self.rng = rng
        self.p_blurred_pair = p_blurred_pair
        self.jitter = jitter

    def sample(self, n: int):
        rng = self.rng
        first = np.empty((n, 1, CROP, CROP), np.float32)
        second = np.empty_like(first)
        labels = np.empty(n, np.int64)
        for t in range(n):
            s = self.stacks[rng.choice(len(self.stacks), p=self.p_image)]
            y = rng.integers(0, s.shape[1] - CROP + 1)
            x = rng.integers(0, s.shape[2] - CROP + 1)
            if rng.random() < self.p_blurred_pair:
                sharp = int(rng.integers(1, LEVELS))
                blurred = int(rng.integers(sharp + 1, LEVELS + 1))
            else:
                sharp, blurred = 0, int(rng.integers(1, LEVELS + 1))
            p, q = s[sharp, y:y + CROP, x:x + CROP], s[blurred, y:y + CROP, x:x + CROP]
            k = int(rng.integers(0, 8))  # shared flip / rotation
            p, q = _dihedral(p, k), _dihedral(q, k)
            if self.jitter:
                gain, offset = rng.uniform(0.5, 1.3), rng.uniform(-0.15, 0.15)
                mismatch = 1.0 + rng.uniform(-0.04, 0.04, 2)
                mean = 0.5 * (p.mean() + q.mean())
                noise = rng.uniform(0.0, 0.012)
                p = (p - mean) * gain * mismatch[0] + mean + offset + rng.normal(0, noise, p.shape)
                q = (q - mean) * gain * mismatch[1] + mean + offset + rng.normal(0, noise, q.shape)
            if rng.random() < 0.5:
                first[t, 0], second[t, 0], labels[t] = p, q, 0  # class 0: first is in focus
            else:
                first[t, 0], second[t, 0], labels[t] = q, p, 1
        a, b = torch.from_numpy(first), torch.from_numpy(second)
        sharp_img = torch.where(torch.from_numpy(labels)[:, None, None, None] == 0, a, b)
        # variance of the sharp 16x16 window of every score (paper's threshold)
        m = F.avg_pool2d(sharp_img, PATCH, STRIDE)
        var = F.avg_pool2d(sharp_img * sharp_img, PATCH, STRIDE) - m * m
        weights = (var[:, 0] > VAR_MIN * (1.0 if not self.jitter else 0.5)).float()
        return a, b, torch.from_numpy(labels), weights


def _dihedral(p: np.ndarray, k: int) -> np.ndarray:
    p = np.rot90(p, k % 4)
    return p[:, ::-1] if k >= 4 else p


def weighted_ce(logits, labels, weights):
    """Weighted cross-entropy of the dense scores; ``labels`` one per crop [n] or one per window [n, h, w]."""
    target = labels if labels.ndim == 3 else labels[:, None, None].expand(-1, logits.shape[2], logits.shape[3])
    loss = F.cross_entropy(logits, target, reduction="none")
    return (loss * weights).sum() / weights.sum().clamp_min(1.0), target


def accuracy(logits, target, weights):
    ok = (logits.argmax(1) == target).float()
    return float((ok * weights).sum() / weights.sum().clamp_min(1.0))
