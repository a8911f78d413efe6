import os

import pytest
import torch

import mfif

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")

# Every op test runs on the CPU, and on CUDA when a GPU and CUDA kernels exist.
DEVICES = ["cpu"]
if torch.cuda.is_available() and mfif.cuda_kernels_available():
    DEVICES.append("cuda")

FLOAT_DTYPES = [torch.float32, torch.float64]


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(params=FLOAT_DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param


def tol(dtype):
    """(rtol, atol) for comparing a kernel with its reference."""
    return (1e-4, 1e-5) if dtype == torch.float32 else (1e-10, 1e-12)
