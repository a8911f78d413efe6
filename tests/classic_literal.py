"""Literal NumPy/SciPy transcriptions of the published MATLAB codes of quadtree (Bai et al. 2015) and
dense-SIFT fusion (Liu, Liu, Wang 2015), written from their descriptions step by step, independently of
mfif's torch implementations; on 8-bit images on the 0..255 scale (float64 arrays)."""
import numpy as np
from scipy import ndimage
from scipy.signal import convolve2d, correlate2d

EIGHT = np.ones((3, 3))


def area_open(m, area):
    """MATLAB's bwareaopen(m, area) (8-connected)."""
    lab, n = ndimage.label(m, structure=EIGHT)
    counts = np.bincount(lab.ravel())
    keep = counts >= area
    keep[0] = False
    return keep[lab]


def quadtree_labels(g1, g2):
    """Quadtree_Fusion's decision map before filtering: 1, 2 or -1 (equal sums) per pixel."""
    h, w = g1.shape
    n = 2
    while n < max(h, w):
        n *= 2
    dy, dx = -(-(n - h) // 2), -(-(n - w) // 2)
    G = np.zeros((2, n, n))
    G[0, dy:dy + h, dx:dx + w], G[1, dy:dy + h, dx:dx + w] = g1, g2
    out = np.zeros((n, n), np.int64)

    def visit(y, x, s):
        b = G[:, y:y + s, x:x + s]
        f1, f2 = b[0].sum(), b[1].sum()
        mdfm, smdg = abs(f1 - f2), np.abs(b[0] - b[1]).sum()
        if s > 2 and 0 < mdfm < 0.98 * smdg:
            for yy, xx in ((y, x), (y, x + s // 2), (y + s // 2, x), (y + s // 2, x + s // 2)):
                visit(yy, xx, s // 2)
        else:
            out[y:y + s, x:x + s] = 1 if f1 > f2 else 2 if f2 > f1 else -1

    visit(0, 0, n)
    return out[dy:dy + h, dx:dx + w]


def wml(img):
    p = np.pad(img, 1, mode="symmetric")
    c = p[1:-1, 1:-1]
    ml = np.abs(2 * c - p[:-2, 1:-1] - p[2:, 1:-1]) + np.abs(2 * c - p[1:-1, :-2] - p[1:-1, 2:])
    ml[ml < 5] = 0
    t = np.arange(-8, 9)
    H = 1 / (np.sqrt(t[:, None] ** 2 + t[None, :] ** 2) + 1)
    return ndimage.correlate(np.pad(ml, 8, mode="symmetric"), H, mode="constant")[8:-8, 8:-8]


def quadtree_channel(a, b):
    """(fused channel, final label map 1/2/0) of one channel pair."""
    g1, g2 = wml(a), wml(b)
    lab = quadtree_labels(g1, g2)
    ims = []
    for k in (1, 2):
        m = lab == k
        se = np.ones((5, 5))  # MATLAB's strel('disk', 3); imerode sees 1 outside, imdilate 0
        m = ndimage.binary_erosion(m, se, border_value=1)   # imopen: erode, dilate
        m = ndimage.binary_dilation(m, se, border_value=0)
        m = ndimage.binary_dilation(m, se, border_value=0)  # imclose: dilate, erode
        m = ndimage.binary_erosion(m, se, border_value=1)
        ims.append(m)
    lab = np.where(ims[0] & ~ims[1], 1, np.where(ims[1] & ~ims[0], 2, 0))
    area = a.size / 40
    fs = [~area_open(~area_open(lab == k, area), area) for k in (1, 2)]
    lab = np.where(fs[0] & ~fs[1], 1, np.where(fs[1] & ~fs[0], 2, 0))
    pick = np.where(g1 > g2, a, np.where(g2 > g1, b, np.floor((a + b) / 2 + 0.5)))
    return np.where(lab == 1, a, np.where(lab == 2, b, pick)), lab


def _dense_sift(img):
    """[H, W, 128] float32 descriptors of a grey image (C. Liu's DenseSIFT, patch 24, 11-px zero padding)."""
    h, w = img.shape
    x = np.pad(img, 11)
    x = x / x.max()
    t = np.arange(5) - 2.0
    gauss = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / 2)
    gauss /= gauss.sum()
    gy, gx = np.gradient(gauss)
    gx, gy = gx * 2 / np.abs(gx).sum(), gy * 2 / np.abs(gy).sum()
    v, hz = correlate2d(x, gx, mode="same"), correlate2d(x, gy, mode="same")
    mag, th = np.sqrt(v * v + hz * hz), np.arctan2(hz, v)
    wt = np.abs(np.arange(1, 25) - 11.5) / 6
    wt = (1 - wt) * (wt <= 1)
    planes = []
    for k in range(8):
        a = 2 * np.pi * k / 8
        o = ((np.cos(th) * np.cos(a) + np.sin(th) * np.sin(a)) ** 9)
        o = (o * (o > 0) * mag).astype(np.float32).astype(np.float64)
        full = convolve2d(convolve2d(o, wt[:, None]), wt[None, :])  # MATLAB's conv2 'same' keeps 12: for 24 taps
        planes.append(full[12:12 + x.shape[0], 12:12 + x.shape[1]].astype(np.float32))
    d = [p[oy:oy + h, ox:ox + w] for ox in (0, 6, 12, 18) for oy in (0, 6, 12, 18) for p in planes]
    return np.stack(d, -1)


def _normalise(d):
    n = np.sqrt((d * d).sum(-1, keepdims=True))
    big = n > 1
    dn = np.minimum(d / np.where(big, n, 1), 0.2)
    dn = dn / np.maximum(np.sqrt((dn * dn).sum(-1, keepdims=True)), 1e-30)
    return np.where(big, dn, d).astype(np.float32)


def _sf(p):
    m, n = p.shape
    return np.sqrt(((p[1:] - p[:-1]) ** 2).sum() / (m * n) + ((p[:, 1:] - p[:, :-1]) ** 2).sum() / (m * n))


def dsift_map(g1, g2):
    """DSIFT_Fusion's final map (1, 0, 0.5) of two grey images, with the pixel loops of the published code."""
    d1, d2 = _dense_sift(g1), _dense_sift(g2)
    s1, s2 = d1.astype(np.float64).sum(-1), d2.astype(np.float64).sum(-1)
    h, w = s1.shape
    score1, score2, cnt = np.zeros((h, w)), np.zeros((h, w)), np.zeros((h, w))
    for yy in range(h - 7):
        for xx in range(w - 7):
            a, b = s1[yy:yy + 8, xx:xx + 8].sum(), s2[yy:yy + 8, xx:xx + 8].sum()
            score1[yy:yy + 8, xx:xx + 8] += a > b
            score2[yy:yy + 8, xx:xx + 8] += b > a
            cnt[yy:yy + 8, xx:xx + 8] += 1
    cnt[cnt < 1] = 1
    maps = [~area_open(~area_open(s / cnt > 0.99, 3600), 3600) for s in (score1, score2)]
    fmap = 1.0 * maps[0] + 0.5 * (1 - maps[0].astype(float) - maps[1])
    n1, n2 = _normalise(d1), _normalise(d2)
    out = fmap.copy()
    r = 3
    for j in range(r, h - r):
        for i in range(r, w - r):
            if fmap[j, i] != 0.5:
                continue
            dis1 = ((n2[j - r:j + r + 1, i - r:i + r + 1] - n1[j, i]) ** 2).sum(-1)
            dis2 = ((n1[j - r:j + r + 1, i - r:i + r + 1] - n2[j, i]) ** 2).sum(-1)
            k1, k2 = np.argmin(dis1.T.ravel()), np.argmin(dis2.T.ravel())  # column-major, first minimum
            y12, x12 = j - r + k1 % 7, i - r + k1 // 7
            y21, x21 = j - r + k2 % 7, i - r + k2 // 7
            if not all(r <= y < h - r for y in (y12, y21)) or not all(r <= x < w - r for x in (x12, x21)):
                continue
            f1, f12 = _sf(g1[j - r:j + r + 1, i - r:i + r + 1]), _sf(g2[y12 - r:y12 + r + 1, x12 - r:x12 + r + 1])
            f2, f21 = _sf(g2[j - r:j + r + 1, i - r:i + r + 1]), _sf(g1[y21 - r:y21 + r + 1, x21 - r:x21 + r + 1])
            if f1 > f12 and f2 < f21:
                out[j, i] = 1
            if f1 < f12 and f2 > f21:
                out[j, i] = 0
    return out
