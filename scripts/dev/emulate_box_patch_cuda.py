"""Sequential Python emulation of the index logic of the CUDA box-sum engine
(csrc/box_filter/cuda/box_sum.cuh) and of the CUDA patch_mean kernels, checked
against the CPU ops (a development aid for machines without a GPU):
    PYTHONPATH=python python scripts/dev/emulate_box_patch_cuda.py
"""
import sys, math, numpy as np, torch
pass
import mfif
from mfif import ops

def run_length(n, r): return min(max(4*r, 32), n)
def inv_count(i, n, r): return 1.0/(min(n-1, i+r) - max(0, i-r) + 1)

def box_emu(x, radius, normalize, adjoint):
    H, W = x.shape
    ry, rx = min(radius, H-1), min(radius, W-1)
    src = lambda y, xx: x[y, xx]*(inv_count(y,H,ry)*inv_count(xx,W,rx) if (adjoint and normalize) else 1.0)
    hs = np.zeros((H, W)); seg = run_length(W, rx); nseg = math.ceil(W/seg)
    for y in range(H):
        for s in range(nseg):
            x0 = s*seg; x1 = min(W, x0+seg)
            acc = sum(src(y, xx) for xx in range(max(0, x0-rx), min(W-1, x0+rx)+1))
            hs[y, x0] = acc
            for xx in range(x0+1, x1):
                if xx+rx < W: acc += src(y, xx+rx)
                if xx-rx-1 >= 0: acc -= src(y, xx-rx-1)
                hs[y, xx] = acc
    out = np.zeros((H, W)); band = run_length(H, ry); nb = math.ceil(H/band)
    for xx in range(W):
        for bnd in range(nb):
            y0 = bnd*band; y1 = min(H, y0+band)
            acc = sum(hs[y, xx] for y in range(max(0, y0-ry), min(H-1, y0+ry)+1))
            f = lambda y, a: a*inv_count(y,H,ry)*inv_count(xx,W,rx) if (normalize and not adjoint) else a
            out[y0, xx] = f(y0, acc)
            for y in range(y0+1, y1):
                if y+ry < H: acc += hs[y+ry, xx]
                if y-ry-1 >= 0: acc -= hs[y-ry-1, xx]
                out[y, xx] = f(y, acc)
    return out

rng = np.random.default_rng(0)
for H, W, r in [(1,1,0),(7,9,1),(31,17,3),(5,80,8),(70,3,40),(40,45,2)]:
    x = rng.standard_normal((H, W))
    for norm in (True, False):
        t = torch.from_numpy(x)
        np.testing.assert_allclose(box_emu(x, r, norm, False), ops.box_filter(t, r, norm).numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(box_emu(x, r, norm, True), torch.ops.mfif._box_filter_backward(t[None], r, norm)[0].numpy(), rtol=1e-10, atol=1e-10)
print("box emulation OK")

def cover_first(y, patch, stride):
    t = y - patch + 1
    return 0 if t <= 0 else (t + stride - 1)//stride
def cover_last(y, stride, n): return min(y//stride, n-1)
def cover_count(y, n, patch, stride): return cover_last(y, stride, n) - cover_first(y, patch, stride) + 1

def pm_fwd(p, H, W, patch, stride):
    h, w = p.shape
    R = np.zeros((h, W))
    for i in range(h):
        for x in range(W):
            R[i, x] = sum(p[i, j] for j in range(cover_first(x, patch, stride), cover_last(x, stride, w)+1))
    M = np.zeros((H, W))
    for y in range(H):
        i0, i1 = cover_first(y, patch, stride), cover_last(y, stride, h)
        for x in range(W):
            M[y, x] = sum(R[i, x] for i in range(i0, i1+1)) / ((i1-i0+1)*cover_count(x, w, patch, stride))
    return M

def pm_bwd(g, h, w, patch, stride):
    H, W = g.shape
    G = np.zeros((H, w))
    for y in range(H):
        for j in range(w):
            G[y, j] = sum(g[y, x]/cover_count(x, w, patch, stride) for x in range(j*stride, min(j*stride+patch, W)))
    gs = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            gs[i, j] = sum(G[y, j]/cover_count(y, h, patch, stride) for y in range(i*stride, min(i*stride+patch, H)))
    return gs

for H, W, patch, stride in [(30, 33, 7, 3), (9, 20, 1, 1), (40, 41, 40, 5), (60, 41, 16, 2)]:
    h, w = math.ceil(max(H-patch,0)/stride)+1, math.ceil(max(W-patch,0)/stride)+1
    p = rng.random((h, w))
    np.testing.assert_allclose(pm_fwd(p, H, W, patch, stride), ops.patch_mean(torch.from_numpy(p), (H, W), patch, stride).numpy(), rtol=1e-12)
    g = rng.standard_normal((H, W))
    np.testing.assert_allclose(pm_bwd(g, h, w, patch, stride), torch.ops.mfif._patch_mean_backward(torch.from_numpy(g)[None], torch.from_numpy(p)[None], patch, stride)[0].numpy(), rtol=1e-10, atol=1e-12)
print("patch_mean emulation OK")
