"""Sequential Python emulation of the CUDA CCL kernels (csrc/ccl/cuda/ccl_cuda.cu):
the local run step, the union rules, hooking in random thread order, numbering by
prefix sum and the area counts, checked against the CPU ops. A development aid for
machines without a GPU (it checks the index logic, not the CUDA code itself):
    PYTHONPATH=python python scripts/dev/emulate_ccl_cuda.py
"""
import numpy as np, torch, sys
pass
import mfif
rng = np.random.default_rng(0)

def find(par, x):
    while par[x] != x: x = par[x]
    return x

def unite(par, a, b):
    while True:
        a = find(par, a); b = find(par, b)
        if a == b: return
        if a > b: a, b = b, a
        old = par[b]; par[b] = min(old, a)
        if old == b: return
        b = old

def find_halving(par, x):
    while True:
        p = par[x]
        if p == x: return x
        gp = par[p]
        if gp == p: return p
        par[x] = gp; x = gp

def unite(par, a, b):
    while True:
        a = find_halving(par, a); b = find_halving(par, b)
        if a == b: return
        if a > b: a, b = b, a
        old = par[b]; par[b] = min(old, a)
        if old == b: return
        b = old

def forest(px, B, H, W, target, k):
    n = B*H*W; HW = H*W
    tgt = (px != 0) == (target != 0)
    par = np.full(n, -1)
    for p in range(n):   # init: run start within the 32-pixel piece
        if tgt[p]:
            x = p % W; s = p
            while (s % W) % 32 != 0 and tgt[s-1]: s -= 1
            par[p] = s
    order = rng.permutation(n)
    T = lambda q: bool(tgt[q])
    for p in order:
        if not tgt[p]: continue
        x = p % W; y = (p % HW) // W
        left = x > 0 and T(p-1)
        if left and x % 32 == 0: unite(par, p, p-1)
        if y == 0: continue
        up = T(p-W)
        if up and not (left and T(p-W-1)): unite(par, p, p-W)
        if k and not up:
            if x > 0 and not left and T(p-W-1): unite(par, p, p-W-1)
            if x+1 < W and T(p-W+1): unite(par, p, p-W+1)
    for p in rng.permutation(n):
        if par[p] >= 0:
            r = find(par, p); par[p] = r
    flags = (par == np.arange(n)).astype(np.int64)
    return par, flags

def cc(mask, k):
    B, H, W = mask.shape; px = mask.reshape(-1).astype(np.uint8)
    par, flags = forest(px, B, H, W, 1, k)
    ranks = np.cumsum(flags)
    HW = H*W; out = np.zeros(B*H*W, np.int64)
    for p in range(B*H*W):
        s = p - p % HW; before = ranks[s-1] if s > 0 else 0
        out[p] = ranks[par[p]] - before if par[p] >= 0 else 0
    return out.reshape(B, H, W)

def areas(par):
    a = np.zeros(len(par), np.int64)
    for r in par:
        if r >= 0: a[r] += 1
    return a

def rsr(mask, amin, k):
    B, H, W = mask.shape; px = mask.reshape(-1).astype(np.uint8)
    par, _ = forest(px, B, H, W, 1, k); ar = areas(par)
    keep = np.array([px[p] != 0 and par[p] >= 0 and ar[par[p]] >= amin for p in range(len(px))], np.uint8)
    par, _ = forest(keep, B, H, W, 0, k); ar = areas(par)
    out = np.array([keep[p] != 0 or (par[p] >= 0 and ar[par[p]] < amin) for p in range(len(px))])
    return out.reshape(B, H, W)

for trial in range(30):
    B = int(rng.integers(1, 3)); H = int(rng.integers(1, 14)); W = int(rng.integers(1, 80))
    m = rng.random((B, H, W)) < rng.choice([0.3, 0.5, 0.7, 0.9])
    for k, conn in ((0, 4), (1, 8)):
        ref = mfif.ops.connected_components(torch.from_numpy(m), conn).numpy()
        assert (cc(m, k) == ref).all(), (trial, conn)
        amin = int(rng.integers(2, 8))
        ref2 = mfif.ops.remove_small_regions(torch.from_numpy(m), amin, conn).numpy()
        assert (rsr(m, amin, k) == ref2).all(), (trial, conn, amin)
print("CCL emulation matches the CPU kernel")
