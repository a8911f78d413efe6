"""Argument checks with messages that name the argument and the fix."""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .._extension import WITH_CUDA

FLOAT_DTYPES = (torch.float32, torch.float64)
# The filters, patch_mean and nps_loss also take these, computed in float32
# inside and returned in the input's dtype.
HALF_DTYPES = (torch.float16, torch.bfloat16)


def check_tensor(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")


def check_float(x: torch.Tensor, name: str) -> None:
    check_tensor(x, name)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be float32 or float64, got {x.dtype}; convert it with {name}.float()"
        )


def check_float_or_half(x: torch.Tensor, name: str) -> None:
    check_tensor(x, name)
    if x.dtype not in FLOAT_DTYPES + HALF_DTYPES:
        raise TypeError(
            f"{name} must be float32, float64, float16 or bfloat16, got {x.dtype}; "
            f"convert it with {name}.float()"
        )


def autocast_to_float32(*tensors: torch.Tensor) -> tuple:
    """Under :func:`torch.autocast` on the tensors' device, float16/bfloat16
    inputs become float32 (what the ops' autocast rule does), so that the
    wrappers' same-dtype checks see what the kernels will get."""
    device = tensors[0].device.type
    if device not in ("cpu", "cuda") or not torch.is_autocast_enabled(device):
        return tensors
    return tuple(t.float() if t.dtype in HALF_DTYPES else t for t in tensors)


def check_fake_devices(op: str, **tensors: torch.Tensor) -> None:
    """The device check of a fake (meta) kernel: one meta and one CPU tensor
    dispatch to the Meta kernel, which must refuse them as the real kernels do."""
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise RuntimeError(f"mfif: {op} got tensors on different devices ({where}); put them on one device")


def cap_window(value: int, *sizes: int) -> int:
    """A radius, patch or stride capped at the largest of ``sizes``: beyond the
    image it changes nothing (windows are cut at the border), and the cap keeps
    any Python int inside the ops' int64 arguments."""
    return min(value, max(sizes))


def check_rank(x: torch.Tensor, name: str, ranks: Sequence[int], layout: str) -> None:
    if x.dim() not in ranks:
        raise ValueError(f"{name} must have shape {layout}, got {tuple(x.shape)}")


def check_nonempty(x: torch.Tensor, name: str) -> None:
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); it needs at least one pixel")


def check_device(x: torch.Tensor, name: str) -> None:
    """Refuse devices without mfif kernels instead of silently copying to the CPU."""
    if x.device.type == "cpu" or x.device.type == "meta":
        return
    if x.device.type == "cuda" and WITH_CUDA:
        return
    raise RuntimeError(
        f"{name} is on {x.device}, but this build of mfif has no kernels for "
        f"'{x.device.type}' (CUDA kernels: {WITH_CUDA}). Move it with {name}.cpu(), "
        "or install a CUDA build of mfif."
    )


def check_same_device(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    if a.device != b.device:
        raise ValueError(f"{a_name} is on {a.device} but {b_name} is on {b.device}; put both on one device")


def check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_finite_scalar(value, name: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_bool(x: torch.Tensor, name: str) -> None:
    check_tensor(x, name)
    if x.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor, got {x.dtype}; convert it with {name}.bool()")
def check_op_device(x: torch.Tensor, name: str, op: str) -> None:
    """Like :func:`check_device`, and also refuse a device for which the op ``op``
    (``"mfif::name"``) has no kernel: a CUDA build may lack CUDA kernels for some ops."""
    check_device(x, name)
    if x.device.type in ("cpu", "meta"):
        return
    key = {"cuda": "CUDA"}.get(x.device.type, x.device.type)
    if not torch._C._dispatch_has_kernel_for_dispatch_key(op, key):
        raise RuntimeError(
            f"{name} is on {x.device}, but {op} has no '{x.device.type}' kernel in this build of mfif; "
            f"move it with {name}.cpu()"
        )
