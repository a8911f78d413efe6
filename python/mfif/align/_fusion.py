"""Alignment inside the fusion driver: estimate once, warp each frame as it is loaded.

:func:`align_sources` wraps the driver's lazy frame sources so that loading
frame ``i`` returns it already aligned (warped as stored, uint8 stays uint8,
then cropped if asked). Everything downstream (two-pass methods, tiles, the
spill to disk) sees ordinary frames, and memory still does not grow with N.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from .._warn import reraising, warn
from ._frames import is_path
from ._geometry import max_displacement
from ._stack import AlignmentWarning, StackAlignment, UntexturedError, estimate

ALIGN_MODES = ("auto", "on", "off")

# A pair is aligned in "auto" mode only when it moves more than this share of the
# frame diagonal: refocused light-field pairs (Lytro) differ by up to 0.41 % of it
# (measured on the 20 pairs, a 0.45 % magnification) and count as registered.
PAIR_DIAGONAL_SHARE = 0.005
# A stack is aligned in "auto" mode when some frame moves by more than this many pixels:
# below it, resampling blurs more than the misregistration costs, and small identical-
# geometry stacks (96x128) give spurious estimates up to 0.6 px (measured).
STACK_MIN_MOVE_PX = 1.0


def _auto_skips(n: int, moved: float, shape) -> str | None:
    """Why "auto" leaves the frames as they are, or None when they should be aligned."""
    if n == 2 and moved <= PAIR_DIAGONAL_SHARE * math.hypot(*shape):
        return (f"not aligned: the pair differs by at most {moved:.1f} px "
                f"(<= {100 * PAIR_DIAGONAL_SHARE:.1f} % of the diagonal)")
    if n > 2 and moved <= STACK_MIN_MOVE_PX:
        return f"not aligned: no frame moves by more than {moved:.2f} px"
    return None


def _not_applied(al: StackAlignment) -> StackAlignment:
    """The estimate as a record of what was *not* done: no frame resampled, no exposure changed."""
    n = len(al)
    return dataclasses.replace(al, resampled=np.zeros(n, bool), exposure_applied=np.zeros(n, bool), box=None)


def _estimate(frames, mode: str, **kwargs) -> StackAlignment | str:
    """:func:`estimate`, its warnings pointing at the caller; a note (str) instead when the reference frame
    has no texture ("auto": silently; "on": with an :class:`AlignmentWarning`)."""
    try:
        return reraising(estimate, frames, **kwargs)
    except UntexturedError as exc:
        if mode == "on":
            warn(f"alignment skipped: {exc}", AlignmentWarning)
        return "not aligned: the reference frame has no texture to register on"


def check_align(align) -> str:
    if align is None or align is True:
        return "auto" if align is None else "on"
    if align is False:
        return "off"
    key = str(align).lower()
    if key not in ALIGN_MODES:
        raise ValueError(f"align must be True, False, None or one of {', '.join(ALIGN_MODES)}; got {align!r}")
    return key


class _LazyFrame:
    """A source as the estimator reads it: its shape (from the header), its file (so a
    JPEG is decoded at reduced size) and its loader, called only when its turn comes."""

    def __init__(self, src):
        self.shape, self.load = src.shape, src.load
        on_disk = not src.in_memory and is_path(src.name) and os.path.isfile(src.name)
        self.path = src.name if on_disk else None


def _estimate_input(src):
    return _LazyFrame(src)


def align_sources(sources, align="auto", crop: bool = False, options: dict | None = None, progress=None):
    """Estimate the stack's alignment and wrap ``sources`` to load aligned frames.

    Args:
        sources: the driver's :class:`mfif.fusion.sources.FrameSource` list.
        align: ``"auto"`` (stacks of 3+ frames are aligned when a frame moves by
            more than 1 px; a pair only when it moves by more than 0.5 % of the
            frame diagonal), ``"on"`` or ``"off"``.
        crop: crop the frames to the area all of them cover.
        options: keyword arguments of :func:`mfif.align.estimate` (model, reference, ...).
        progress: passed to the estimator.

    Returns:
        ``(sources, alignment, note)``: the (possibly wrapped) sources, the
        :class:`StackAlignment` (None when alignment is off) and a one-line note
        saying what was done.
    """
    mode = check_align(align)
    if mode == "off":
        return sources, None, "not aligned (alignment off)"
    opts = dict(options or {})
    al = _estimate([_estimate_input(s) for s in sources], mode, crop=crop, progress=progress, **opts)
    if isinstance(al, str):
        return sources, None, al
    H, W = al.shape
    moved = max(max_displacement(T, (H, W)) for T in al.transforms)
    skip = _auto_skips(len(sources), moved, (H, W)) if mode == "auto" else None
    if skip is not None:
        return sources, _not_applied(al), skip
    if al.is_identity and not crop:
        return sources, al, f"aligned: all frames already registered (largest move {moved:.2f} px)"
    from ..fusion.sources import FrameSource

    h, w = al.output_shape
    wrapped = []
    for i, s in enumerate(sources):
        shape = (h, w, s.shape[2])
        # the frame is checked as it is loaded (NaN, float range); the cubic warp's overshoot is not the user's
        wrapped.append(FrameSource(s.name, shape, s.dtype, lambda s=s, i=i: _load_aligned(al, s, i), _checked=True))
    return wrapped, al, describe(al)


def _load_aligned(al: StackAlignment, src, i: int):
    img = src.load()
    out = al.warp(i, img)
    return out if out.ndim == 3 else out[..., None]


def describe(al: StackAlignment) -> str:
    """One line: how many frames moved and by how much."""
    s = al.summary()["frames"]
    scales = [f["scale"] for f in s]
    moved = sum(f["resampled"] for f in s)
    gains = sum(f["exposure_applied"] for f in s)
    crop = f", cropped to {al.output_shape[1]}x{al.output_shape[0]}" if al.crop else ""
    return (f"aligned {moved} of {len(s)} frames to frame {al.reference} ({al.model}, {al.strategy}; "
            f"scale {min(scales):.4f}..{max(scales):.4f}, largest move "
            f"{max(f['max_displacement_px'] for f in s):.1f} px; exposure matched on {gains}{crop})")


def tensor_transform(frames, align="auto", crop: bool = False, options: dict | None = None):
    """Alignment of a batch of stacks given as N tensors ``[B, C, H, W]``, one estimate per stack.

    ``"auto"`` leaves tensors as they are: a tensor stack is taken as registered
    (it comes from a model, a data loader or a simulation), and estimating would
    copy every frame to the CPU. ``"on"`` estimates (on CPU copies of the frames).

    Returns:
        ``(transform, alignments, note)``: ``transform(frames [B, C, H, W], i)``
        warping frame ``i`` of every stack at once (None when nothing moves), the
        list of :class:`StackAlignment` (empty when off) and a one-line note.
        With ``crop``, all stacks are cut to the box every one of them covers.
    """
    mode = check_align(align)
    if mode == "off":
        return None, [], "not aligned (alignment off)"
    if mode == "auto":
        return None, [], "not aligned (tensor frames are taken as registered; align=True estimates)"
    n = len(frames)
    B, C, H, W = frames[0].shape
    als = []
    for b in range(B):
        al = _estimate([frames[i][b] for i in range(n)], mode, **dict(options or {}))
        if isinstance(al, str):
            return None, [], al
        als.append(al)
    moved = max(max_displacement(T, (H, W)) for al in als for T in al.transforms)
    if all(al.is_identity for al in als) and not crop:
        return None, als, f"aligned: all frames already registered (largest move {moved:.2f} px)"
    from ._warp import warp_tensor

    boxes = np.array([al.box for al in als])
    x0, y0 = boxes[:, 0].max(), boxes[:, 1].max()
    x1, y1 = boxes[:, 2].min(), boxes[:, 3].min()

    def transform(t, i):
        T = np.stack([al.transforms[i] if al.resampled[i] else np.eye(3) for al in als])
        E = np.stack([al.exposure[i] if al.exposure_applied[i] else np.tile([1.0, 0.0], (C, 1)) for al in als])
        moves = any(al.resampled[i] for al in als)
        out = warp_tensor(t, T if moves else None, E if any(al.exposure_applied[i] for al in als) else None,
                          als[0].interpolation)
        return out[..., y0:y1, x0:x1] if crop else out

    return transform, als, describe(als[0]) + (f" (and {B - 1} more stacks)" if B > 1 else "")
