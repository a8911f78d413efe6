"""Discrete wavelet transform (DWT) fusion: the classic multi-scale baseline.

Each frame is decomposed per channel by a multilevel 2-D DWT (PyWavelets,
``bior2.2`` = the biorthogonal spline wavelet DBSS(2,2), 4 levels, MATLAB's
default half-sample symmetric extension). The approximation band of the
fused image is the mean of the frames'; every detail coefficient is taken
from the frame with the largest *activity* there, with the consistency check
of Li, Manjunath and Mitra (1995) as the common MATLAB fusion toolboxes code
it: the activity of a coefficient is the maximum absolute value in its 3x3
window, each coefficient votes for the frame with the largest activity, and
the frame with the most votes in the 3x3 window around a coefficient gives
it (a majority filter on the decision map, which removes isolated choices).
The inverse transform gives the fused image.

Choices (see docs/wavelet.md for how they were measured against the
published DWT outputs of the Liu et al. 2020 survey):

- colour: each channel is fused on its own, as the survey's code does;
- borders: the coefficients are computed with half-sample symmetric
  extension (``mode="symmetric"``), the activity windows see the decision
  map mirrored by one coefficient, as the MATLAB code's ``es2`` extension;
- sizes: any size. Odd sizes need nothing special (PyWavelets' symmetric
  mode reconstructs any length exactly; the one extra row or column of the
  inverse transform is cropped). Images under 16 pixels a side get fewer
  levels (``floor(log2(min(H, W)))``, at least one);
- N frames: the running argmax of the activities over the frames (ties,
  within a relative 1e-5, stay with the earlier frame), then the majority filter over the N-valued
  decision map (vote ties to the earlier frame); for two frames this is the
  toolbox's rule;
- precision: the transform runs in the frames' float dtype on the CPU (a
  CUDA frame makes a round trip through host memory); 16-bit sources keep
  their precision.

Two passes over the frames (:mod:`mfif.methods.streaming`): pass 1 keeps the
running best activity and its frame per coefficient, pass 2 copies each
frame's chosen coefficients and sums the approximation bands. Memory is a
few coefficient sets, whatever the number of frames.

Examples:
    >>> import torch, mfif
    >>> a, b = torch.rand(1, 3, 65, 70), torch.rand(1, 3, 65, 70)
    >>> r = mfif.methods.get("dwt").fuse_pair(a, b)
    >>> r.fused.shape, r.decision.shape
    (torch.Size([1, 3, 65, 70]), torch.Size([1, 65, 70]))
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import pywt
import torch
from scipy import ndimage

from .base import FusionResult
from .streaming import StackResult, fuse_frames


def wavelet_levels(height: int, width: int, wavelet: str, levels: int) -> int:
    """Levels used for an image: ``levels``, fewer where the image has under ``2**levels`` pixels a side (at least 1).

    Any count reconstructs exactly in symmetric mode; beyond ``log2`` of the
    size the coarse bands only hold the border extension.
    """
    most = int(np.floor(np.log2(max(1, min(height, width)))))
    return max(1, min(levels, most))


def decompose(x: np.ndarray, wavelet: str, levels: int) -> list:
    """``pywt.wavedec2`` over the last two axes: ``[cA, (cH, cV, cD) coarsest, ..., finest]``."""
    with warnings.catch_warnings():  # tiny images: boundary-effect warning, reconstruction stays exact
        warnings.simplefilter("ignore", UserWarning)
        return pywt.wavedec2(x, wavelet, mode="symmetric", level=levels, axes=(-2, -1))


def reconstruct(coeffs: list, wavelet: str, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`decompose`, cropped to ``height x width`` (odd sizes come back one larger)."""
    out = pywt.waverec2(coeffs, wavelet, mode="symmetric", axes=(-2, -1))
    return out[..., :height, :width]


def activity(band: np.ndarray, window: int) -> np.ndarray:
    """Max of ``|band|`` over ``window x window``, on the band mirrored by ``window // 2`` coefficients.

    The mirrored frame is kept (the majority vote reads it), so the result is
    ``window - 1`` larger than ``band`` in each of the last two axes.
    """
    n = window // 2
    pad = [(0, 0)] * (band.ndim - 2) + [(n, n), (n, n)]
    mirrored = np.pad(np.abs(band), pad, mode="reflect" if min(band.shape[-2:]) > n else "symmetric")
    size = (1,) * (band.ndim - 2) + (window, window)
    return ndimage.maximum_filter(mirrored, size=size, mode="constant", cval=0.0)


TIE = 1e-5  # relative: activities closer than this are equal (quantised frames tie often)


def beats(act: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Where ``act`` is larger than ``best`` by more than the tie tolerance.

    Frames read from 8- or 16-bit files often have exactly equal coefficients;
    without a tolerance the float rounding of the input conversion
    (``x / 255`` or ``x * (1 / 255)``) would decide those ties and, through the
    majority vote, change neighbouring choices.
    """
    return act > best * (1 + TIE) + 1e-9


def majority(index: np.ndarray, window: int) -> np.ndarray:
    """Per coefficient, the frame with the most votes of ``index`` in its window (ties: earlier frame).

    ``index`` carries the mirrored frame of :func:`activity`; the result has the band's size.
    """
    n = window // 2
    size = (1,) * (index.ndim - 2) + (window, window)
    core = (Ellipsis, slice(n, index.shape[-2] - n), slice(n, index.shape[-1] - n))
    best_votes, best = None, None
    for f in np.unique(index):
        votes = ndimage.uniform_filter((index == f).astype(np.float32), size=size, mode="constant")[core]
        if best is None:
            best_votes, best = votes, np.full(votes.shape, f, dtype=index.dtype)
        else:
            win = votes > best_votes + 1e-6  # counts / window^2: exact up to float rounding
            best[win] = f
            np.maximum(best_votes, votes, out=best_votes)
    return best


@dataclass
class DWTFusion:
    """DWT fusion with the baseline's parameters (see the module docstring)."""

    wavelet: str = "bior2.2"
    levels: int = 4
    window: int = 3            # activity and majority windows (coefficients)
    name: str = "dwt"
    passes: int = 2

    @property
    def tile_align(self) -> int:
        return 1 << self.levels  # tiles start on the coarsest level's grid

    @property
    def halo(self) -> int:
        # each level: the analysis and synthesis filters and the two 3x3 windows, in that level's pixels
        reach = pywt.Wavelet(self.wavelet).dec_len + 2 * (self.window // 2) + 2
        return reach * ((1 << (self.levels + 1)) - 1)

    def for_size(self, height: int, width: int) -> "DWTFusion":
        """This method with the level count fixed for ``height x width`` frames (tiles share it)."""
        return replace(self, levels=wavelet_levels(height, width, self.wavelet, self.levels))

    def _coeffs(self, frame: torch.Tensor) -> list:
        x = frame.detach().cpu().numpy()
        levels = wavelet_levels(x.shape[-2], x.shape[-1], self.wavelet, self.levels)
        return decompose(x, self.wavelet, levels)

    # --- streaming protocol -------------------------------------------------
    def start(self, n_frames: int) -> SimpleNamespace:
        return SimpleNamespace(n=n_frames, best=None, index=None, chosen=None, low=None, out=None, like=None)

    def add(self, state, pass_index: int, frame_index: int, frame: torch.Tensor) -> None:
        coeffs = self._coeffs(frame)
        details = [b for level in coeffs[1:] for b in level]
        if pass_index == 0:
            acts = [activity(b, self.window) for b in details]
            if state.best is None:
                state.best = acts
                dt = np.int16 if state.n < 2**15 else np.int32
                state.index = [np.zeros(a.shape, dtype=dt) for a in acts]
                return
            for best, index, act in zip(state.best, state.index, acts):
                index[beats(act, best)] = frame_index
                np.maximum(best, act, out=best)
            return
        if state.chosen is None:  # end of pass 1: the majority filter fixes each coefficient's frame
            state.chosen = [majority(i, self.window) for i in state.index]
            state.best = state.index = None
            state.out = [np.zeros_like(b) for b in details]
            state.low = np.zeros_like(coeffs[0])
            state.like = (frame.shape, frame.dtype, frame.device)
        state.low += coeffs[0]
        for out, chosen, band in zip(state.out, state.chosen, details):
            mask = chosen == frame_index
            out[mask] = band[mask]

    def finish(self, state) -> StackResult:
        shape, dtype, device = state.like
        H, W = shape[-2:]
        bands = iter(state.out)
        coeffs = [state.low / state.n] + [tuple(next(bands) for _ in range(3)) for _ in range(len(state.out) // 3)]
        fused = torch.from_numpy(np.ascontiguousarray(reconstruct(coeffs, self.wavelet, H, W)))
        index = self._depth(state.chosen[-3:], H, W)
        return StackResult(fused=fused.to(device=device, dtype=dtype).clamp_(0, 1),
                           index=torch.from_numpy(index).to(device), weights=None)

    def _depth(self, finest: list[np.ndarray], H: int, W: int) -> np.ndarray:
        """``[B, H, W]`` int64: per pixel, the frame most of its finest-level coefficients came from."""
        votes = np.concatenate(finest, axis=1)  # [B, 3C, h, w]: orientations x channels
        frames = np.unique(votes)
        counts = np.stack([(votes == f).sum(axis=1) for f in frames])  # first max wins: ties to the earlier frame
        depth = frames[np.argmax(counts, axis=0)].astype(np.int64)  # [B, h, w]
        # pixel p sits under coefficient (p + L/2 - 1) // 2 of the symmetric-mode DWT (L: filter length)
        shift = pywt.Wavelet(self.wavelet).dec_len // 2 - 1
        rows = np.minimum((np.arange(H) + shift) // 2, depth.shape[1] - 1)
        cols = np.minimum((np.arange(W) + shift) // 2, depth.shape[2] - 1)
        return depth[:, rows][:, :, cols]

    # --- pairwise interface ---------------------------------------------------
    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two sources ``[B, C, H, W]``; ``weights`` is 1 where the depth map picked ``a``."""
        res = fuse_frames(self, [a, b])
        decision = res.index == 0
        return FusionResult(fused=res.fused, weights=decision.to(res.fused.dtype), decision=decision)

    def fuse_stack(self, frames: list[torch.Tensor]) -> StackResult:
        """Fuse N frames held in memory (the stack driver streams them instead)."""
        return fuse_frames(self, frames)


METHOD = DWTFusion()
