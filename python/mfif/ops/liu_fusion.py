"""Fake kernel of ``mfif::_liu_fusion``, the fused last stage of Liu et al.'s
post-processing that :func:`mfif.pipeline.liu_postprocess` uses on CUDA."""
from __future__ import annotations

import torch

from ._checks import check_fake_devices

# (a development tree whose library predates the op imports without it)
_DEFINED = hasattr(torch.ops.mfif, "_liu_fusion")

if _DEFINED:

    @torch.library.register_fake("mfif::_liu_fusion")
    def _liu_fusion_fake(decision, a, b, radius, eps):
        check_fake_devices("_liu_fusion", decision=decision, a=a, b=b)
        return torch.empty_like(a, memory_format=torch.contiguous_format), a.new_empty(decision.shape)


def has_cuda_kernel() -> bool:
    """True when this build has the CUDA kernel of ``mfif::_liu_fusion``."""
    return _DEFINED and torch._C._dispatch_has_kernel_for_dispatch_key("mfif::_liu_fusion", "CUDA")
