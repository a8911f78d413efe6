"""Python emulation of the CUDA score_map (csrc/score_map/cuda/): the torch
side's bands and GEMMs (score_map_cuda.cpp) and the band kernel's flat
indexing (score_map_cuda.cu, shift_sum_at / score_of_diff of
score_map_kernels.h), thread by thread as the grid-stride loop assigns them,
with a bounds check of every read and write; checked against the reference
(float64) and the CPU op. A development aid for machines without a GPU:
    PYTHONPATH=python python scripts/dev/emulate_score_map_cuda.py
"""
import math
import sys

import numpy as np
import torch

from mfif import ops, reference as ref

THREADS = 256


def grid_for(n, threads):  # common/cuda/launch.cuh
    blocks = math.ceil(n / threads)
    return max(1, min(blocks, 1 << 20))


def score_of_diff(v, slope, dtype):
    """patch_mean::prob0(v, 0) / slope_of_diff (device branch: exp of -|v|), in the kernel's dtype."""
    v = v.astype(dtype)
    a = np.abs(v)
    e = np.exp(-a).astype(dtype)
    if slope:
        s = (dtype(1) / (dtype(1) + e)).astype(dtype)
        out = e * s * s
    else:
        z = -v  # prob0(l0 = v, l1 = 0): z = l1 - l0
        out = np.where(z > 0, e, dtype(1)) / (dtype(1) + e)
    return np.where(np.isfinite(v), out, np.nan).astype(dtype)


def band_kernel(P_flat, plane, ld, k, bias, out_flat, out_offset, rows, w, slope, dtype, written):
    """band_scores<<<grid_for(rows*w, 256), 256>>>: each thread t of the grid-stride loop."""
    n = rows * w
    blocks = grid_for(n, THREADS)
    bd = dtype(0) if bias is None else dtype(bias[0] - bias[1])
    stride = blocks * THREADS
    for first in range(0, stride, THREADS):  # one block's worth of threads at a time (vectorised)
        t = np.arange(first, first + THREADS, dtype=np.int64)
        t = np.concatenate([t + s for s in range(0, n, stride)])  # the grid-stride iterations
        t = t[t < n]
        if t.size == 0:
            continue
        j, i = t % w, t // w
        base = i * ld  # P + i * ld
        acc = np.zeros(t.shape, dtype)
        for dy in range(k):
            row = base + dy * k * plane + dy * ld + j
            for dx in range(k):
                idx = row + dx * plane + dx
                assert idx.min() >= 0 and idx.max() < P_flat.size, "read outside P"
                # reads only what the band's GEMM wrote: plane o, columns [0, cols)
                o = dy * k + dx
                assert ((idx - o * plane) < (rows + k - 1) * ld).all() and ((idx - o * plane) >= 0).all()
                acc = (acc + P_flat[idx]).astype(dtype)
        v = (acc + bd).astype(dtype)
        dst = out_offset + t
        assert dst.max() < out_flat.size
        written[dst] += 1
        out_flat[dst] = score_of_diff(v, slope, dtype)


def emulate(fa, fb, weight, bias, slope=False, band_values=1 << 25):
    """score_map_cuda.cpp's band_scores on numpy arrays (NCHW)."""
    dtype = fa.dtype.type
    B, C, hf, wf = fa.shape
    k = weight.shape[2]
    h, w, kk = hf - k + 1, wf - k + 1, k * k
    wd = (weight[0] - weight[1]).reshape(2 * C, kk).T.copy()  # diff_weights
    wa, wb = wd[:, :C], wd[:, C:]
    band = min(max(band_values // (kk * wf) - (k - 1), 1), h)
    plane = (band + k - 1) * wf  # P.stride(0): Pb is a narrow of P
    P_flat = np.full(kk * plane, np.nan, dtype)  # stale values would show as NaN
    out = np.full(B * h * w, np.nan, dtype)
    written = np.zeros(B * h * w, np.int64)
    for b in range(B):
        xa, xb = fa[b].reshape(C, hf * wf), fb[b].reshape(C, hf * wf)  # feature_matrix
        for i0 in range(0, h, band):
            i1 = min(h, i0 + band)
            cols = (i1 - i0 + k - 1) * wf
            Pb = (wa @ xa[:, i0 * wf:i0 * wf + cols] + wb @ xb[:, i0 * wf:i0 * wf + cols]).astype(dtype)
            P_view = P_flat.reshape(kk, plane)
            P_view[:, cols:] = np.nan  # the columns of the buffer past this band's GEMM
            P_view[:, :cols] = Pb
            band_kernel(P_flat, plane, wf, k, bias, out, (b * h + i0) * w, i1 - i0, w, slope, dtype, written)
    assert (written == 1).all(), "every score written exactly once"
    return out.reshape(B, h, w)


def main():
    gen = torch.Generator().manual_seed(0)
    cases = [  # (B, C, h', w', k, band_values): one band, many bands, 1-row bands, k = 1, a map as small as k
        (2, 8, 20, 17, 8, 1 << 25), (1, 4, 37, 45, 3, 2000), (2, 3, 30, 9, 5, 1), (1, 2, 9, 6, 1, 1 << 25),
        (1, 6, 7, 7, 7, 300), (1, 256, 20, 24, 8, 40000),
    ]
    for B, C, hf, wf, k, band_values in cases:
        for dtype in (torch.float32, torch.float64):
            for with_bias in (True, False):
                fa = torch.rand(B, C, hf, wf, generator=gen, dtype=dtype)
                fb = torch.rand(B, C, hf, wf, generator=gen, dtype=dtype)
                w = torch.randn(2, 2 * C, k, k, generator=gen, dtype=dtype) * 3 / math.sqrt(C * k * k)
                b = torch.randn(2, generator=gen, dtype=dtype) if with_bias else None
                npb = None if b is None else b.numpy()
                p = emulate(fa.numpy(), fb.numpy(), w.numpy(), npb, False, band_values)
                s = emulate(fa.numpy(), fb.numpy(), w.numpy(), npb, True, band_values)
                exact = ref.score_map(fa.double(), fb.double(), w.double(), None if b is None else b.double())
                rtol, atol = (1e-5, 1e-6) if dtype == torch.float32 else (1e-12, 1e-14)
                np.testing.assert_allclose(p, exact.numpy(), rtol=rtol, atol=atol)
                np.testing.assert_allclose(s, (exact * (1 - exact)).numpy(), rtol=rtol, atol=atol)
                np.testing.assert_allclose(p, ops.score_map(fa, fb, w, b).numpy(), rtol=rtol, atol=atol)
                np.testing.assert_allclose(s, torch.ops.mfif._score_map_slope(fa, fb, w, b).numpy(), rtol=rtol,
                                           atol=atol)
    # non-finite input: NaN scores (not a saturated 0 or 1)
    fa = torch.rand(1, 2, 9, 9, generator=gen)
    fa[0, 0, 4, 4] = float("inf")
    w = torch.ones(2, 4, 3, 3).numpy() * np.array([1, -1])[:, None, None, None]
    p = emulate(fa.numpy(), np.zeros_like(fa.numpy()), w, None)
    assert np.isnan(p[0, 2:5, 2:5]).all() and np.isfinite(p).sum() == 49 - 9
    print("score_map CUDA emulation OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
