"""Multi-focus pairs made from one sharp photograph and its region map.

Two recipes (see docs/hourglass.md):

- :func:`gaussian_pair`, paper 002 section IV-A: a random subset of the
  labelled regions is the focus map; one Gaussian of sigma ~ U(1, 5) blurs
  the photo; eq. 1 mixes the sharp and the blurred photo with the map.
- :func:`realistic_pair`: the regions get a depth ordering (2 or 3 layers),
  each source focuses on one layer and blurs the others with a disc (pillbox)
  point-spread function whose radius grows with the depth distance; layers are
  composited far to near, so a blurred foreground spreads over the sharp
  background behind it (near occlusion edges no source is sharp), then each
  source gets a small gain mismatch and sensor noise.

Both return a :class:`Pair` whose ``focus`` map is 1 where source ``a`` is the
one to take. Note: eq. 1 as printed blurs ``x_A`` where ``g^b = 1`` while eq.
3 rewards ``z_0`` (the weight of ``x_A``) there; here ``focus`` is 1 where
``a`` is sharp, which is what eq. 2 and 3 need.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Pair", "SIGMA_RANGE", "RADIUS_RANGE", "disc_blur", "gaussian_pair", "oracle", "realistic_pair",
           "region_subset"]

SIGMA_RANGE = (1.0, 5.0)   # Gaussian blur sigma, paper 002 section IV-A
RADIUS_RANGE = (1.0, 7.0)  # disc radius per unit of depth distance (realistic variant)
NOISE_MAX = 0.01           # sensor noise standard deviation, drawn from U(0, NOISE_MAX)
GAIN_MISMATCH = 0.03       # each source's gain in 1 +- U(0, GAIN_MISMATCH)


@dataclass
class Pair:
    """A synthetic multi-focus pair.

    Attributes:
        a, b: the sources, float32 ``[H, W, 3]`` in [0, 1].
        truth: the all-in-focus image (the sharp photo), float32 ``[H, W, 3]``.
        focus: float32 ``[H, W]`` in {0, 1}: 1 where ``a`` is the source to take.
    """

    a: np.ndarray
    b: np.ndarray
    truth: np.ndarray
    focus: np.ndarray


def region_subset(regions: np.ndarray, rng: np.random.Generator, n_groups: int = 2) -> np.ndarray:
    """Assign every region of ``regions`` to one of ``n_groups`` groups at random (each group non-empty
    when there are enough regions): int ``[H, W]`` group index per pixel.

    With ``n_groups = 2`` group 1 is the paper's random subset Gamma of the regions.
    """
    ids, inv = np.unique(regions, return_inverse=True)
    groups = rng.integers(0, n_groups, len(ids))
    if len(ids) >= n_groups:  # no empty group: give each group one region it surely owns
        for g, k in enumerate(rng.permutation(len(ids))[:n_groups]):
            groups[k] = g
    return groups[inv.reshape(regions.shape)].astype(np.int32)


def gaussian_pair(img: np.ndarray, regions: np.ndarray, rng: np.random.Generator,
                  sigma: float | None = None) -> Pair:
    """The paper's pair (eq. 1): ``a`` sharp on a random subset of the regions, ``b`` on the rest.

    Args:
        img: sharp photo, float32 ``[H, W, 3]`` in [0, 1].
        regions: its region map ``[H, W]`` (integer ids).
        rng: the random source (the subset, sigma).
        sigma: Gaussian sigma; drawn from U(1, 5) when None.

    Examples:
        >>> img = np.random.default_rng(0).random((40, 40, 3), dtype=np.float32)
        >>> reg = np.repeat(np.arange(4), 10)[:, None].repeat(40, 1)
        >>> p = gaussian_pair(img, reg, np.random.default_rng(1))
        >>> p.a.shape, float(p.focus.max())
        ((40, 40, 3), 1.0)
    """
    focus = region_subset(regions, rng, 2).astype(np.float32)
    s = float(rng.uniform(*SIGMA_RANGE)) if sigma is None else float(sigma)
    blurred = cv2.GaussianBlur(img, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    m = focus[..., None]
    return Pair(a=img * m + blurred * (1 - m), b=blurred * m + img * (1 - m), truth=img, focus=focus)


def disc_kernel(radius: float) -> np.ndarray:
    """Anti-aliased disc (pillbox) PSF of ``radius`` pixels, normalised to sum 1."""
    n = int(np.ceil(radius)) * 2 + 1
    yy, xx = np.mgrid[:n, :n] - n // 2
    k = np.clip(radius + 0.5 - np.sqrt(yy**2 + xx**2), 0, 1).astype(np.float32)
    return k / k.sum()


def disc_blur(x: np.ndarray, radius: float) -> np.ndarray:
    """``x`` convolved with :func:`disc_kernel` (reflected borders); radius below 0.5 is no blur."""
    if radius < 0.5:
        return x
    return cv2.filter2D(x, -1, disc_kernel(radius), borderType=cv2.BORDER_REFLECT)


def _render(img: np.ndarray, layers: np.ndarray, radii: list[float]) -> np.ndarray:
    """Layered defocus: layer 0 nearest; each layer's premultiplied colour and coverage blurred by its
    radius and composited far to near ("over"), the farthest layer filled behind occluders by
    normalised convolution (its hidden part is unknown, so it takes the nearby visible colours)."""
    n = len(radii)
    far = (layers == n - 1).astype(np.float32)
    cov = disc_blur(far, radii[-1])
    out = disc_blur(img * far[..., None], radii[-1]) / np.maximum(cov, 1e-3)[..., None]
    out = np.where((cov > 1e-3)[..., None], out, disc_blur(img, radii[-1]))
    for layer in range(n - 2, -1, -1):
        alpha = (layers == layer).astype(np.float32)
        a = disc_blur(alpha, radii[layer])[..., None]
        out = out * (1 - a) + disc_blur(img * alpha[..., None], radii[layer])
    return out


def oracle(a: np.ndarray, b: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per pixel, the source closer to ``truth`` (squared error over the channels): float32 ``[H, W]``,
    1 where ``a`` is (ties go to ``a``). ``oracle * a + (1 - oracle) * b`` is the best selection."""
    ea = ((a - truth) ** 2).sum(-1)
    eb = ((b - truth) ** 2).sum(-1)
    return (ea <= eb).astype(np.float32)


def realistic_pair(img: np.ndarray, regions: np.ndarray, rng: np.random.Generator, noise: bool = True) -> Pair:
    """A pair through a layered disc-defocus model (see the module docstring).

    The regions fall into 2 (70 %) or 3 depth layers; ``a`` focuses on one layer and ``b`` on another, and
    a layer at depth distance ``d`` (in layer steps) is blurred by a disc of radius ``d * r`` with
    ``r ~ U(1, 7)`` per source. ``focus`` is 1 where ``a``'s focus layer is nearer in depth to the
    pixel's layer than ``b``'s, except where the per-pixel :func:`oracle` clearly disagrees (near
    occlusion edges, where the blurred foreground covers the background): there the oracle decides.

    Examples:
        >>> img = np.random.default_rng(0).random((48, 48, 3), dtype=np.float32)
        >>> reg = np.repeat(np.arange(6), 8)[:, None].repeat(48, 1)
        >>> realistic_pair(img, reg, np.random.default_rng(2)).b.shape
        (48, 48, 3)
    """
    n = 2 if rng.random() < 0.7 else 3
    layers = region_subset(regions, rng, n)
    fa, fb = (int(v) for v in rng.choice(n, 2, replace=False))
    ra, rb = rng.uniform(*RADIUS_RANGE, 2)
    a = _render(img, layers, [abs(k - fa) * ra for k in range(n)])
    b = _render(img, layers, [abs(k - fb) * rb for k in range(n)])
    depth_a = np.abs(layers - fa)
    depth_b = np.abs(layers - fb)
    focus = (depth_a < depth_b).astype(np.float32)
    if noise:
        gains = 1 + rng.uniform(-GAIN_MISMATCH, GAIN_MISMATCH, 2)
        sd = rng.uniform(0, NOISE_MAX, 2)
        a = a * np.float32(gains[0]) + rng.normal(0, sd[0], a.shape).astype(np.float32)
        b = b * np.float32(gains[1]) + rng.normal(0, sd[1], b.shape).astype(np.float32)
    a, b = np.clip(a, 0, 1).astype(np.float32), np.clip(b, 0, 1).astype(np.float32)
    ea, eb = ((a - img) ** 2).mean(-1), ((b - img) ** 2).mean(-1)
    # where one source is clearly the better one (error 4x lower and above the noise floor) it is the truth
    clear = np.maximum(ea, eb) > 4 * (NOISE_MAX**2) + 1e-4
    focus = np.where(clear & (ea * 4 < eb), 1.0, np.where(clear & (eb * 4 < ea), 0.0, focus)).astype(np.float32)
    return Pair(a=a, b=b, truth=img, focus=focus)
