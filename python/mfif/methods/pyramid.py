"""Laplacian-pyramid stack fusion in one streaming pass (after Burt and Kolczynski 1993).

Each frame is split into a Laplacian pyramid (Burt and Adelson's 5-tap
kernel). At every level and pixel the driver keeps the coefficient of the
frame whose energy there (the squared grey coefficient, or with
``energy_radius > 0`` its mean over a small window) is the largest so far,
and the running mean of the coarsest level; the fused image is the
reconstruction of that pyramid. Detail is taken per scale from the frame
that has the most of it, and the selections blend seamlessly through the
reconstruction, so the result keeps the sharpest detail without seams
around selection boundaries.

One pass over the frames: each is read once. The depth map is the running
argmax of a smoother focus measure (squared Laplacian averaged over a
``(2r+1)^2`` window), which gives a cleaner index of the sharp frame than
the per-coefficient choices.

Frames that are float32/float64 tensors on the CPU go through the OpenCV/numpy
form in :mod:`mfif.methods.pyramid_cpu` (the same result to float rounding,
about 10x faster); CUDA, half-precision and autograd tensors use the torch form
below. Either way ``finish`` is called once per ``start``.

Memory: the running pyramid (4/3 of a frame, in float) and its energies, a
few full-size planes, and one frame's pyramid, whatever the number of frames.

Examples:
    >>> import torch, mfif
    >>> frames = [torch.rand(1, 3, 64, 64) for _ in range(4)]
    >>> r = mfif.methods.get("pyramid").fuse_stack(frames)
    >>> r.fused.shape, r.index.shape
    (torch.Size([1, 3, 64, 64]), torch.Size([1, 64, 64]))
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from .base import FusionResult
from .pyramid_cpu import CpuPyramid
from .pyramid_params import PyramidParams, levels_for  # noqa: F401  (levels_for: part of this module's API)
from .streaming import (StackResult, abs_laplacian_replicate, box_mean_replicate, fuse_frames, gaussian_replicate,
                        grey_of, running_argmax)

_TAPS = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def _down_rows(x: torch.Tensor) -> torch.Tensor:
    # the 5-tap blur at the kept (even) rows only; row-strided views stay contiguous along x
    keep = (x.shape[-2] + 1) // 2
    p = F.pad(x, (0, 0, 2, 2), mode="replicate")
    t = [p[..., i:i + 2 * keep - 1:2, :] for i in range(5)]
    y = t[0] + t[4]
    y.add_(t[1] + t[3], alpha=4.0).add_(t[2], alpha=6.0)
    return y.mul_(1 / 16)


def _down_cols(x: torch.Tensor) -> torch.Tensor:
    # split even and odd columns once, so every tap is a contiguous shifted view:
    # y_j = (E_{j-1} + E_{j+1} + 4 (O_{j-1} + O_j) + 6 E_j) / 16
    keep = (x.shape[-1] + 1) // 2
    p = F.pad(x, (2, 2 + (x.shape[-1] % 2 == 0), 0, 0), mode="replicate")  # even padded width
    even, odd = p[..., 0::2].contiguous(), p[..., 1::2].contiguous()  # E_{-1}.., O_{-1}..
    y = even[..., 0:keep] + even[..., 2:keep + 2]
    y.add_(odd[..., 0:keep] + odd[..., 1:keep + 1], alpha=4.0).add_(even[..., 1:keep + 1], alpha=6.0)
    return y.mul_(1 / 16)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Blur with the 5-tap kernel (1 4 6 4 1)/16 and keep every second pixel (sizes round up)."""
    return _down_cols(_down_rows(x))  # rows first: the costlier column pass sees half the rows


def _up_axis(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    # the 5-tap kernel applied to the zero-interleaved signal, in its two phases, written in place
    n = x.shape[dim]
    p = F.pad(x, (1, 1, 0, 0) if dim == -1 else (0, 0, 1, 1), mode="replicate")
    left, mid, right = p.narrow(dim, 0, n), p.narrow(dim, 1, n), p.narrow(dim, 2, n)
    shape = list(x.shape)
    shape[dim] = 2 * n
    out = x.new_empty(shape)
    even = out[..., 0::2] if dim == -1 else out[..., 0::2, :]
    odd = out[..., 1::2] if dim == -1 else out[..., 1::2, :]
    torch.add(left, right, out=even)
    even.mul_(0.125).add_(mid, alpha=0.75)
    torch.add(mid, right, out=odd)
    odd.mul_(0.5)
    return out.narrow(dim, 0, size)


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Expand a level to ``size`` (the finer level's height and width)."""
    return _up_axis(_up_axis(x, -1, size[1]), -2, size[0])


@dataclass
class PyramidStack(PyramidParams):
    """One-pass Laplacian-pyramid fusion with a focus-measure depth map (parameters: :class:`PyramidParams`)."""

    def decompose(self, frame: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Laplacian levels (finest first) and the coarsest Gaussian level."""
        out, g = [], frame
        for _ in range(self._levels(*frame.shape[-2:])):
            down = pyr_down(g)
            out.append(g - pyr_up(down, g.shape[-2:]))
            g = down
        return out, g

    def _energy(self, lap: torch.Tensor, level: int) -> torch.Tensor:
        e = grey_of(lap)
        e = e * e if e is lap else e.mul_(e)  # a grey frame's coefficients are their own grey: keep them
        if level == 0 and self.fine_sigma is not None:
            return e if self.fine_sigma == 0 else gaussian_replicate(e, 3, self.fine_sigma)
        return box_mean_replicate(e, self.energy_radius)

    def start(self, n_frames: int) -> SimpleNamespace:
        return SimpleNamespace(n=n_frames, coef=None, energy=None, top=None, top_crit=None, fm=None, index=None,
                               cpu=None)

    @staticmethod
    def _on_cpu(frame: torch.Tensor) -> bool:
        # OpenCV's kernels are several times faster on the CPU; the torch form serves CUDA,
        # half precision and autograd
        return (frame.device.type == "cpu" and frame.dtype in (torch.float32, torch.float64)
                and not frame.requires_grad)

    def add(self, state, pass_index: int, frame_index: int, frame: torch.Tensor) -> None:
        # NaN or Inf would silently spread through the pyramid (the other methods' filters refuse it);
        # one sum finds either without a full-size mask (frames in [0, 1] cannot overflow it)
        if not torch.isfinite(frame.detach().sum()):
            raise ValueError(f"mfif: frame {frame_index} contains NaN or Inf; clean it first (e.g. torch.nan_to_num)")
        if state.cpu is not None or (state.coef is None and self._on_cpu(frame)):
            if not self._on_cpu(frame):
                raise ValueError(f"frame {frame_index} is a {frame.dtype} tensor on {frame.device}, the first "
                                 "frames were float tensors on the CPU; give all frames on one device and dtype")
            if state.cpu is None:
                state.cpu = CpuPyramid(self, state.n)
            state.cpu.add(frame_index, frame.numpy())
            return
        self._add_torch(state, frame_index, frame)

    def _add_torch(self, state, frame_index: int, frame: torch.Tensor) -> None:
        grey = grey_of(frame)
        lap0 = abs_laplacian_replicate(grey)
        fm = box_mean_replicate(lap0.mul_(lap0), self.depth_radius)
        del lap0
        first = state.coef is None
        if first:
            state.coef, state.energy = [], []
        # level by level, so that only one level of this frame's pyramid exists at a time
        g, pooled = frame, fm
        for level in range(self._levels(*frame.shape[-2:])):
            down = pyr_down(g)
            lap = pyr_up(down, g.shape[-2:]).neg_().add_(g)  # g - expand(down), in the expansion's buffer
            if level == 0 or not self.coarse_by_focus:
                # the grey of the coefficients is the Laplacian of the grey pyramid (as the OpenCV form)
                if g.shape[1] == 1:
                    grey_lap, grey = lap, down
                else:
                    grey_down = pyr_down(grey)
                    grey_lap, grey = pyr_up(grey_down, grey.shape[-2:]).neg_().add_(grey), grey_down
                crit = self._energy(grey_lap, level)
                del grey_lap
            else:
                pooled = pyr_down(pooled)
                crit = pooled
            self._select(state, level, first, lap, crit)
            del lap, crit
            g = down
        if self.coarse_by_focus:  # pooled is at the last level's size: once more down to the top's
            # below one level the top is the frame and its criterion fm itself: a copy, as fm is kept too
            self._select(state, "top", first, g, pyr_down(pooled) if g is not frame else pooled.clone())
        elif first:
            state.top = g.clone()
        else:
            state.top += g
        state.fm, state.index = running_argmax(state.fm, state.index, fm, frame_index, state.n)

    @staticmethod
    def _select(state, level, first: bool, coef: torch.Tensor, crit: torch.Tensor) -> None:
        """Keep, per pixel of a level, the coefficient whose criterion is the largest so far."""
        if level == "top":
            if first:
                state.top, state.top_crit = coef.clone(), crit
            else:
                state.top.lerp_(coef, (crit > state.top_crit).to(coef.dtype))
                torch.maximum(state.top_crit, crit, out=state.top_crit)
            return
        if first:
            state.coef.append(coef)  # fresh buffers of this frame: kept as the running state
            state.energy.append(crit)
            return
        best = state.energy[level]
        # a 0/1 lerp is an exact select (torch computes end - (end - start) * 0 for weight 1),
        # and several times faster than torch.where with a broadcast mask on the CPU
        state.coef[level].lerp_(coef, (crit > best).to(coef.dtype))  # ties stay with the earlier frame
        torch.maximum(best, crit, out=best)

    def finish(self, state) -> StackResult:
        if state.cpu is not None:
            fused, index = state.cpu.finish()
            return StackResult(fused=torch.from_numpy(fused), index=torch.from_numpy(index), weights=None)
        g = state.top if self.coarse_by_focus else state.top / state.n
        for coef in reversed(state.coef):
            g = pyr_up(g, coef.shape[-2:]).add_(coef)
        return StackResult(fused=g.clamp_(0, 1), index=self._depth(state), weights=None)

    def _depth(self, state) -> torch.Tensor:
        """The running argmax, smoothed where it is unsure: a normalised convolution of the
        indices weighted by their focus measure, so textured pixels vote and flat ones follow."""
        if self.depth_smooth == 0:
            return state.index[:, 0].long()
        conf = state.fm
        num = box_mean_replicate(state.index.to(conf.dtype) * conf, self.depth_smooth)
        den = box_mean_replicate(conf, self.depth_smooth).clamp_min_(1e-30)
        return torch.round(num / den)[:, 0].long()

    def fuse_stack(self, frames: list[torch.Tensor]) -> StackResult:
        """Fuse N frames held in memory (the stack driver streams them instead)."""
        return fuse_frames(self, frames)

    def fuse_pair(self, a: torch.Tensor, b: torch.Tensor) -> FusionResult:
        """Fuse two sources; ``weights`` is 1 where ``a`` is the sharper (no soft weights)."""
        res = self.fuse_stack([a, b])
        decision = res.index == 0
        return FusionResult(fused=res.fused, weights=decision.to(a.dtype), decision=decision)


METHOD = PyramidStack()
