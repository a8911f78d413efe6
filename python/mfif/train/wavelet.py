"""Training tasks ``wavelet-cnn`` (paper 001's wavelet-domain CNN) and ``mscnn`` (paper 003).

Both draw the synthetic pairs of :class:`mfif.synthetic.PairSampler` (crops of photographs, the
paper-002 Gaussian recipe and the layered disc-defocus one) and validate with PSNR and SSIM against
the truth of the fixed validation set (as the hourglass tasks). The losses differ:

- ``wavelet-cnn`` is supervised: L1 between the fused Haar sub-bands and the truth's sub-bands;
- ``mscnn`` never sees the truth: :func:`source_ssim_loss` compares the fused image with the two
  sources only.

Both networks are exactly symmetric in their sources, so a pair is not also given swapped.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..synthetic import PairSampler
from .hourglass import training_folders, validate_on_set
from .loop import TrainConfig

__all__ = ["WaveletCNNTask", "MSCNNTask", "source_ssim_loss", "source_gradient_loss", "gaussian_window"]

C1, C2 = 0.01 ** 2, 0.03 ** 2  # SSIM's constants for images in [0, 1]


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    """``[1, 1, size, size]`` normalised Gaussian (SSIM's window)."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = torch.outer(g, g)
    return (g / g.sum()).to(dtype=dtype, device=device)[None, None]


def _local(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, win)  # 'valid' windows: no border statistics from padding


def _grey(x: torch.Tensor) -> torch.Tensor:
    from ..colour import RGB_TO_GREY

    if x.shape[1] == 1:
        return x
    r, g, b = RGB_TO_GREY
    return x[:, 0:1] * r + x[:, 1:2] * g + x[:, 2:3] * b


def source_ssim_loss(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor, size: int = 11,
                     sigma: float = 1.5) -> torch.Tensor:
    """Unsupervised SSIM loss of a fused image against its two sources (no ground truth).

    In every ``size x size`` Gaussian window of the grey images, the fused window is compared by
    SSIM with the window of the source whose local variance is larger there (the sharper one: blur
    lowers the variance); the loss is one minus the mean of those SSIM values. This is the choice
    rule of Yang's SSIM-based fusion metric (QY) without its averaging branch.

    Args:
        fused, a, b: ``[B, C, H, W]`` in [0, 1] (H, W >= ``size``).

    Returns:
        the scalar loss.
    """
    f, a, b = _grey(fused), _grey(a), _grey(b)
    win = gaussian_window(size, sigma, f.dtype, f.device)
    mf, ma, mb = _local(f, win), _local(a, win), _local(b, win)
    vf = _local(f * f, win) - mf * mf
    va = _local(a * a, win) - ma * ma
    vb = _local(b * b, win) - mb * mb
    cfa = _local(f * a, win) - mf * ma
    cfb = _local(f * b, win) - mf * mb

    def ssim(mx, vx, cxy):
        return ((2 * mf * mx + C1) * (2 * cxy + C2)) / ((mf * mf + mx * mx + C1) * (vf + vx + C2))

    choose_a = (va >= vb).to(f.dtype).detach()
    s = choose_a * ssim(ma, va, cfa) + (1 - choose_a) * ssim(mb, vb, cfb)
    return 1 - s.mean()


def source_gradient_loss(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Unsupervised edge-transfer loss (no ground truth): the mean shortfall of the fused image's
    gradient magnitude against the larger of the two sources' at each pixel (grey images, central
    differences). Blur lowers gradients, so the larger one is the sharper source's; this is the
    quantity the gradient-based metric QG rewards, and it gives a signal where the 11x11 SSIM windows
    of :func:`source_ssim_loss` see two near-equal sources.

    Args:
        fused, a, b: ``[B, C, H, W]`` in [0, 1].

    Returns:
        the scalar loss (0 when the fused image keeps every pixel's larger gradient).
    """
    def mag(x: torch.Tensor) -> torch.Tensor:
        x = F.pad(_grey(x), (1, 1, 1, 1), mode="replicate")
        gx = (x[..., 1:-1, 2:] - x[..., 1:-1, :-2]) * 0.5
        gy = (x[..., 2:, 1:-1] - x[..., :-2, 1:-1]) * 0.5
        return torch.sqrt(gx * gx + gy * gy + 1e-12)

    target = torch.maximum(mag(a), mag(b)).detach()
    return F.relu(target - mag(fused)).mean()


def fuse_numpy(model: torch.nn.Module, a: np.ndarray, b: np.ndarray, device: torch.device) -> np.ndarray:
    """Fuse two ``[H, W, C]`` float images with a pair network; ``[H, W, C]`` in [0, 1]."""
    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None].to(device)
    return model(ta, tb)[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()


class _PairTask:
    """What the two tasks share: the sampler, validation, export."""

    name = ""
    defaults: dict[str, Any] = {}

    def __init__(self):
        self._val: list | None = None

    def _net(self, cfg: TrainConfig) -> torch.nn.Module:
        raise NotImplementedError

    def build(self, cfg: TrainConfig) -> torch.nn.Module:
        net = self._net(cfg)
        return net.to(memory_format=torch.channels_last) if cfg.device == "cpu" else net

    def data(self, cfg: TrainConfig) -> PairSampler:
        if not cfg.data:
            raise ValueError("give --data a folder of photos (e.g. the data set's train/ folder)")
        return PairSampler(training_folders(cfg.data), crop=int(cfg.options["crop"]),
                           realistic=float(cfg.options["realistic"]), seed=cfg.seed)

    @staticmethod
    def _tensors(batch: dict, device: torch.device, keys=("a", "b", "truth")) -> list[torch.Tensor]:
        out = []
        for k in keys:
            t = torch.from_numpy(batch[k]).to(device)
            out.append(t.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else t)
        return out

    def validate(self, model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
        return validate_on_set(self, model, cfg, device, fuse_numpy)

    def _data_note(self, cfg: TrainConfig) -> str:
        if cfg.data and os.path.isdir(os.path.join(cfg.data, "bsds500")):
            return ("synthetic pairs from photos of BSDS500 train (Arbelaez et al. 2011) and Clothing Co-Parsing "
                    "(Yang et al. 2014) with their region maps")
        return "synthetic pairs from a user's folder of photos"


class WaveletCNNTask(_PairTask):
    """``wavelet-cnn``: supervised by the synthetic truth in the Haar domain."""

    name = "wavelet-cnn"

    def __init__(self):
        super().__init__()
        self.defaults = {"steps": 1500, "batch": 8, "lr": 2e-3, "warmup": 50, "every": 100, "seed": 2019,
                         "options": {"crop": 96, "realistic": 0.5, "width": 24, "val_n": 4}}

    def _net(self, cfg: TrainConfig) -> torch.nn.Module:
        from ..models.wavelet_cnn import WaveletCNN, init_weights

        net = WaveletCNN(width=int(cfg.options["width"]))
        init_weights(net)
        return net

    def loss(self, model: torch.nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, dict]:
        from ..models.wavelet_cnn import haar_forward

        a, b, truth = self._tensors(batch, device)
        bands, w = model.fuse_bands(a, b)
        loss = (bands - haar_forward(truth)).abs().mean()
        return loss, {"w_mean": float(w.detach().mean())}

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        return {"kind": self.name, "width": model.width, "dilations": list(model.dilations),
                "data": self._data_note(cfg), "loss": "L1 on the Haar sub-bands of the synthetic truth"}


class MSCNNTask(_PairTask):
    """``mscnn``: no ground truth; :func:`source_ssim_loss` against the two sources."""

    name = "mscnn"

    def __init__(self):
        super().__init__()
        self.defaults = {"steps": 600, "batch": 4, "lr": 2e-3, "warmup": 30, "every": 100, "seed": 2019,
                         "options": {"crop": 96, "realistic": 0.5, "width": 12, "branch": 4, "val_n": 4,
                                     "scales": 3, "grad": 0.0}}
        self.grad = 0.0  # weight of source_gradient_loss (option grad), set by _net

    def _net(self, cfg: TrainConfig) -> torch.nn.Module:
        from ..models.mscnn import MSCNN, init_weights

        net = MSCNN(width=int(cfg.options["width"]), branch=int(cfg.options["branch"]),
                    scales=int(cfg.options["scales"]))
        self.grad = float(cfg.options["grad"])
        init_weights(net)
        return net

    def loss(self, model: torch.nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, dict]:
        a, b = self._tensors(batch, device, keys=("a", "b"))  # the truth is never read
        fused = model(a, b)
        loss = source_ssim_loss(fused, a, b)
        if self.grad > 0:
            g = source_gradient_loss(fused, a, b)
            return loss + self.grad * g, {"ssim_loss": float(loss.detach()), "grad_loss": float(g.detach())}
        return loss, {}

    def export(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        loss = "1 - SSIM against the source of larger local variance (no ground truth)"
        if self.grad > 0:
            loss += f" + {self.grad:g} x the gradient deficit against the sharper source (no ground truth)"
        return {"kind": self.name, "width": model.width, "branch": model.branch, "scales": model.scales,
                "data": self._data_note(cfg), "loss": loss}
