// Run-based connected-component labelling of binary images (torch-free).
//
// An image is held as its rows' runs: maximal horizontal stretches of equal
// pixels. A row of width W is stored as the start columns of its runs followed
// by a sentinel W, so run i covers [start[i], start[i+1]) and the polarities
// of a row's runs alternate, beginning with first[y]. The runs of the
// "target" polarity are joined with a union-find whose union keeps the
// smaller run index as the root; run indices grow in raster order, so every
// component's root is its first run in raster order (which holds the
// component's first pixel) and numbering the roots in index order numbers the
// components exactly like scipy.ndimage.label. A root also holds its
// component's area (sum of its runs' lengths) when areas are tracked.
//
// The image may be cut into horizontal bands processed independently (each
// band stores its runs from its own base index, bases increasing with the
// band), whose boundary rows are merged afterwards with merge_band_boundary.
// Then flatten_rows points every run straight at its root (one sequential,
// branch-free pass), after which the per-run look-ups that write the output
// are single loads, in parallel over the bands again. Nothing depends on the
// number of bands: the result is unique.
//
// Everything works on raw pointers so that a CUDA version can reuse the
// per-row pieces (marked MFIF_CCL_HD); there is no allocation in here. C++17,
// like the CUDA sources.
#pragma once

#include <cstdint>
#include <cstring>

#if (defined(__AVX2__) || defined(__SSE2__)) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

#if defined(__CUDACC__)
#define MFIF_CCL_HD __host__ __device__
#else
#define MFIF_CCL_HD
#endif

namespace mfif::ccl {

using idx_t = int32_t;

// Spare entries a row may scribble past its sentinel (see extract_runs).
constexpr int64_t kRowSlack = 8;

// Bit i set where p[i] != 0, for 64 bytes.
inline uint64_t nonzero_bits64(const uint8_t* p) {
#if defined(__AVX2__) && !defined(__CUDACC__)
  const __m256i z = _mm256_setzero_si256();
  const uint32_t lo = static_cast<uint32_t>(_mm256_movemask_epi8(
      _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), z)));
  const uint32_t hi = static_cast<uint32_t>(_mm256_movemask_epi8(
      _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)), z)));
  return ~((static_cast<uint64_t>(hi) << 32) | lo);
#elif defined(__SSE2__) && !defined(__CUDACC__)
  const __m128i z = _mm_setzero_si128();
  uint64_t zero = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    zero |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, z))))
            << (16 * k);
  }
  return ~zero;
#else
  uint64_t m = 0;
  for (int i = 0; i < 64; ++i) m |= static_cast<uint64_t>(p[i] != 0) << i;
  return m;
#endif
}

inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }
// Index of the lowest set bit; 64 for 0.
inline int ctz64(uint64_t x) { return x ? __builtin_ctzll(x) : 64; }

// Appends x0 + (position of each set bit of t) to out[n...], returns the new n.
// Writes up to 3 entries past the returned n (the caller leaves room).
inline idx_t emit_bits(uint64_t t, idx_t x0, idx_t* out, idx_t n) {
  const idx_t total = n + static_cast<idx_t>(popcount64(t));
  idx_t* o = out + n;
  while (t) {
    // Four at a time: ctz64(0) is 64, harmless garbage past `total`.
    o[0] = x0 + ctz64(t);
    t &= t - 1;
    o[1] = x0 + ctz64(t);
    t &= t - 1;
    o[2] = x0 + ctz64(t);
    t &= t - 1;
    o[3] = x0 + ctz64(t);
    t &= t - 1;
    o += 4;
  }
  return total;
}

// Splits row p[0..W) (W >= 1; a pixel is set when its byte is non-zero) into
// runs: writes their starts to starts[0..n) and the sentinel W to starts[n].
// Returns n. Needs room for W + 1 + kRowSlack entries.
inline idx_t extract_runs(const uint8_t* p, idx_t W, idx_t* starts) {
  starts[0] = 0;
  idx_t n = 1;
  uint64_t carry = p[0] != 0;  // the pixel left of bit 0: no transition at x = 0
  idx_t x = 0;
  for (; x + 64 <= W; x += 64) {
    const uint64_t fg = nonzero_bits64(p + x);
    const uint64_t t = fg ^ ((fg << 1) | carry);
    carry = fg >> 63;
    if (t) n = emit_bits(t, x, starts, n);
  }
  if (x < W) {
    const int rem = static_cast<int>(W - x);
    uint64_t fg = 0;
    for (int i = 0; i < rem; ++i) fg |= static_cast<uint64_t>(p[x + i] != 0) << i;
    uint64_t t = fg ^ ((fg << 1) | carry);
    if (rem < 64) t &= (uint64_t{1} << rem) - 1;
    if (t) n = emit_bits(t, x, starts, n);
  }
  starts[n] = W;
  return n;
}

// Root of x, halving the path on the way (single writer only).
MFIF_CCL_HD inline idx_t find_root(idx_t* parent, idx_t x) {
  while (parent[x] != x) {
    const idx_t g = parent[parent[x]];
    parent[x] = g;
    x = g;
  }
  return x;
}

// One row of the run representation: runs [beg, end), start[end] == W.
struct RowRuns {
  idx_t beg;
  idx_t end;
  uint8_t first;  // polarity of run `beg`
  // Index of the row's first run of polarity `target`.
  MFIF_CCL_HD idx_t first_of(uint8_t target) const { return beg + (first != target ? 1 : 0); }
};

// Joins the target-polarity runs of row `cur` with those of the row above,
// `prev`, that touch them (k = 0: 4-connectivity, sharing a column; k = 1:
// 8-connectivity, also diagonally). Init: first make each target run of `cur`
// its own component (parent = itself, area = its length); otherwise `cur` is
// already in the forest (merging a band's first row with the band above).
// HasPrev = false only initialises.
template <bool Init, bool Area, bool HasPrev>
MFIF_CCL_HD inline void merge_row(const idx_t* start, idx_t* parent, idx_t* area, RowRuns cur, RowRuns prev,
                      uint8_t target, idx_t k) {
  idx_t j = HasPrev ? prev.first_of(target) : 0;
  for (idx_t i = cur.first_of(target); i < cur.end; i += 2) {
    const idx_t s = start[i], e = start[i + 1];
    idx_t ri;
    if constexpr (Init) {
      parent[i] = i;
      if constexpr (Area) area[i] = e - s;
      ri = i;
    } else {
      ri = find_root(parent, i);
    }
    if constexpr (HasPrev) {
      // Skip the runs above that end left of column s - k.
      while (j < prev.end && start[j + 1] + k <= s) j += 2;
      for (idx_t jj = j; jj < prev.end && start[jj] < e + k; jj += 2) {
        const idx_t rj = find_root(parent, jj);
        if (rj == ri) continue;
        if (rj < ri) {
          parent[ri] = rj;
          if constexpr (Area) area[rj] += area[ri];
          ri = rj;
        } else {
          parent[rj] = ri;
          if constexpr (Area) area[ri] += area[rj];
        }
      }
    }
  }
}

// Run representation of one image: the arrays belong to the caller.
struct RunImage {
  idx_t H = 0, W = 0;
  idx_t* start = nullptr;   // run starts, rows stored from their band's base
  idx_t* parent = nullptr;  // union-find forest over run indices
  idx_t* area = nullptr;    // area of each root (or its label)
  idx_t* row_beg = nullptr;  // [H]
  idx_t* row_end = nullptr;  // [H]
  uint8_t* first = nullptr;  // [H]

  RowRuns row(idx_t y) const { return {row_beg[y], row_end[y], first[y]}; }
  // Room a band of `rows` rows needs.
  static int64_t band_capacity(int64_t rows, int64_t W) { return rows * (W + 1 + kRowSlack); }
};

// Extracts the runs of rows [y0, y1) of `pixels` (row-major, H x W bytes)
// from index `base` on and joins the target-polarity runs within the band.
template <bool Area>
inline void label_band(RunImage& im, const uint8_t* pixels, idx_t y0, idx_t y1, idx_t base,
                       uint8_t target, idx_t k) {
  idx_t pos = base;
  const idx_t W = im.W;
  for (idx_t y = y0; y < y1; ++y) {
    const uint8_t* p = pixels + static_cast<int64_t>(y) * W;
    const idx_t n = extract_runs(p, W, im.start + pos);
    im.row_beg[y] = pos;
    im.row_end[y] = pos + n;
    im.first[y] = p[0] != 0;
    if (y == y0)
      merge_row<true, Area, false>(im.start, im.parent, im.area, im.row(y), {}, target, k);
    else
      merge_row<true, Area, true>(im.start, im.parent, im.area, im.row(y), im.row(y - 1), target, k);
    pos += n + 1;
  }
}

// Joins the target-polarity runs of rows [y0, y1) already stored in `im`
// (after compact_band), from scratch.
template <bool Area>
inline void relabel_band(RunImage& im, idx_t y0, idx_t y1, uint8_t target, idx_t k) {
  for (idx_t y = y0; y < y1; ++y) {
    if (y == y0)
      merge_row<true, Area, false>(im.start, im.parent, im.area, im.row(y), {}, target, k);
    else
      merge_row<true, Area, true>(im.start, im.parent, im.area, im.row(y), im.row(y - 1), target, k);
  }
}

// Joins row y (the first of a band) with row y - 1 (the last of the band above).
template <bool Area>
inline void merge_band_boundary(RunImage& im, idx_t y, uint8_t target, idx_t k) {
  merge_row<false, Area, true>(im.start, im.parent, im.area, im.row(y), im.row(y - 1), target, k);
}

// Points every target-polarity run of rows [y0, y1) straight at its root,
// in index order: parent[i] <= i always holds (unions keep the smaller root,
// path halving only shortens), so parent[parent[i]] is already final. With
// Number, also numbers the roots 1, 2, ... in index order from `count` on,
// into im.area (area[i] of a non-root is left garbage), and returns the count.
// Must run over the rows in order, after every band is merged (sequential).
template <bool Number>
inline idx_t flatten_rows(RunImage& im, idx_t y0, idx_t y1, uint8_t target, idx_t count) {
  idx_t* parent = im.parent;
  for (idx_t y = y0; y < y1; ++y) {
    const RowRuns r = im.row(y);
    for (idx_t i = r.first_of(target); i < r.end; i += 2) {
      const idx_t root = parent[parent[i]];
      parent[i] = root;
      if constexpr (Number) {
        count += root == i;
        im.area[i] = count;  // the label when i is a root, unused otherwise
      }
    }
  }
  return count;
}

// Fills dst[0..n) with v.
template <typename T>
MFIF_CCL_HD inline void fill_run(T* dst, idx_t n, T v) {
  for (idx_t x = 0; x < n; ++x) dst[x] = v;
}

// Fills row[s..e) with v, for runs written left to right: may also write v up
// to kBlock - 1 entries past e (never past `width`), which the next runs
// overwrite. Whole blocks of a fixed size become single vector stores, which
// beats an exact fill on the short runs of noisy masks.
template <typename T>
inline void fill_run_ltr(T* row, idx_t s, idx_t e, idx_t width, T v) {
  constexpr idx_t kBlock = 64 / sizeof(T);
  const idx_t blocks = (e - s + kBlock - 1) / kBlock;
  if (s + blocks * kBlock <= width) {
    T* d = row + s;
    for (idx_t b = 0; b < blocks; ++b, d += kBlock)
      for (idx_t x = 0; x < kBlock; ++x) d[x] = v;
  } else {
    fill_run(row + s, e - s, v);
  }
}

// Writes rows [y0, y1) of the labels (out: H x W int32, row-major): 0 on
// other runs, area[root] on target runs (after flatten_rows<true>).
inline void write_labels(const RunImage& im, idx_t y0, idx_t y1, uint8_t target, int32_t* out) {
  const idx_t W = im.W;
  for (idx_t y = y0; y < y1; ++y) {
    int32_t* o = out + static_cast<int64_t>(y) * W;
    const RowRuns r = im.row(y);
    uint8_t is_target = r.first == target;
    for (idx_t i = r.beg; i < r.end; ++i, is_target ^= 1) {
      const int32_t lab = is_target ? im.area[im.parent[i]] : 0;
      fill_run_ltr(o, im.start[i], im.start[i + 1], W, lab);
    }
  }
}

// Rewrites rows [y0, y1) (stored from `base` on) as the runs of the image in
// which the polarity-1 runs whose component has fewer than min_area pixels
// are cleared (bwareaopen), after flatten_rows. Reads the forest only.
//
// In place: the new row keeps 0, then the start and end of each kept run of
// ones (except the image borders), which never lands past the old runs still
// to be read.
inline void compact_band(RunImage& im, idx_t y0, idx_t y1, idx_t base, idx_t min_area) {
  idx_t* start = im.start;
  const idx_t W = im.W;
  idx_t pos = base;
  for (idx_t y = y0; y < y1; ++y) {
    const RowRuns r = im.row(y);
    const idx_t beg = pos;
    start[pos++] = 0;
    uint8_t first = 0;
    idx_t i = r.first_of(1);
    if (r.first == 1 && i < r.end) {
      first = im.area[im.parent[i]] >= min_area;  // a run of ones starting at x = 0
      start[pos] = start[i + 1];
      pos += first & (start[i + 1] < W);
      i += 2;
    }
    for (; i < r.end; i += 2) {
      const idx_t s = start[i], e = start[i + 1];
      const idx_t keep = im.area[im.parent[i]] >= min_area;
      start[pos] = s;  // s > 0 here
      pos += keep;
      start[pos] = e;
      pos += keep & (e < W);
    }
    start[pos] = W;
    im.row_beg[y] = beg;
    im.row_end[y] = pos;
    im.first[y] = first;
    ++pos;
  }
}

// Writes rows [y0, y1) of the final mask (after the zero runs are labelled and
// flattened): runs of ones stay set, runs of zeros are set when their
// component has fewer than min_area pixels.
inline void write_filled(const RunImage& im, idx_t y0, idx_t y1, idx_t min_area, uint8_t* out) {
  const idx_t W = im.W;
  for (idx_t y = y0; y < y1; ++y) {
    uint8_t* o = out + static_cast<int64_t>(y) * W;
    const RowRuns r = im.row(y);
    uint8_t pol = r.first;
    for (idx_t i = r.beg; i < r.end; ++i, pol ^= 1) {
      const uint8_t v = pol ? 1 : (im.area[im.parent[i]] < min_area);
      fill_run_ltr(o, im.start[i], im.start[i + 1], W, v);
    }
  }
}

}  // namespace mfif::ccl
