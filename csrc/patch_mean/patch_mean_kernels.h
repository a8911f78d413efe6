// Torch-free math of the focus map of Liu et al. 2017 (mfif::patch_mean).
//
// Score s[i, j] of the dense score map is spread over its patch x patch window
// whose top-left corner is (i*stride, j*stride), windows cut at the image
// border; pixel (y, x) is the mean of the scores whose windows cover it.
//
// Row y is covered by the score rows i with i*stride <= y < i*stride + patch,
// a range that depends on y only (likewise for columns), so the mean is
// separable:  M[y, x] = (sum_{i in I(y)} sum_{j in J(x)} s[i, j]) / (|I(y)| |J(x)|).
// Writing y = k*stride + r (0 <= r < stride), I(y) = [k - L_r + 1, k] cut to
// [0, h - 1], with L_r = 1 + (patch - 1 - r) / stride: for every phase r a box
// sum of length L_r ending at k. L_r takes at most two values (one when stride
// divides patch), so all rows of a stride block that share L_r share one row of
// partial sums.
//
// Raw pointers, templates and inline functions only; the per-element helpers
// are MFIF_HOST_DEVICE so that a CUDA kernel can reuse them, the row loops
// below are the CPU kernels (the .cpp runs them in parallel).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/fast_exp.h"
#include "common/host_device.h"


namespace mfif::patch_mean {

// ---- geometry ---------------------------------------------------------------
// One axis: n scores, N pixels. The op requires (n-1)*stride < N (every window
// starts inside the image) and (n-1)*stride + patch >= N (every pixel covered),
// patch >= stride >= 1.

// First score index whose window covers pixel y.
MFIF_HOST_DEVICE int64_t cover_first(int64_t y, int64_t patch, int64_t stride) {
  const int64_t t = y - patch + 1;
  return t <= 0 ? 0 : (t + stride - 1) / stride;
}

// Last score index whose window covers pixel y.
MFIF_HOST_DEVICE int64_t cover_last(int64_t y, int64_t stride, int64_t n) {
  const int64_t i = y / stride;
  return i < n - 1 ? i : n - 1;
}

// Number of windows covering pixel y.
MFIF_HOST_DEVICE int64_t cover_count(int64_t y, int64_t n, int64_t patch, int64_t stride) {
  return cover_last(y, stride, n) - cover_first(y, patch, stride) + 1;
}

// Length of the (uncut) covering range of pixels with phase r = y % stride.
MFIF_HOST_DEVICE int64_t phase_len(int64_t r, int64_t patch, int64_t stride) {
  return 1 + (patch - 1 - r) / stride;
}

// Box sums longer than this use running sums in double instead of direct sums.
constexpr int64_t kDirectMax = 16;

// ---- fused softmax ----------------------------------------------------------
// Probability of channel 0 of a two-channel softmax: softmax(l)[0] =
// sigmoid(l0 - l1) = 1 / (1 + exp(l1 - l0)). Channel 0 means "the first source
// is in focus" (Liu et al.: label 1 when the first patch is the clearer one).
//
// exp is written as plain arithmetic (Cody-Waite reduction, Taylor polynomial,
// exponent bits built by hand) so that g++ vectorises the loop; accuracy a few
// ulp. Only exp(-a) with a = |l0 - l1| >= 0 is needed, and a is clamped in the
// integer domain (a MIN on the bit pattern, which g++ does not turn into a
// branch); that clamp maps NaN to a finite value, so callers check the logits
// for NaN/Inf separately (logits_to_prob does).
using fast_exp::ExpConsts;
using fast_exp::expm1_poly;

// exp(-a) for a >= 0 (a clamped to amax, where exp(-a) is below every
// probability that matters next to 1).
template <typename T>
MFIF_HOST_DEVICE T exp_neg(T a) {
#ifdef __CUDA_ARCH__
  return std::is_same_v<T, float> ? T(expf(-float(a))) : T(::exp(-double(a)));
#else
  using C = ExpConsts<T>;
  using Bits = typename C::Bits;
  Bits ab;
  std::memcpy(&ab, &a, sizeof ab);
  ab = ab < C::amax_bits ? ab : C::amax_bits;  // a >= 0: bit order = value order
  std::memcpy(&a, &ab, sizeof ab);
  const T z = -a;
  const T shifted = z * C::log2e + C::round_magic;  // low bits hold n = round(z / ln2)
  const T n = shifted - C::round_magic;
  const T r = (z - n * C::ln2_hi) - n * C::ln2_lo;
  Bits sb;
  std::memcpy(&sb, &shifted, sizeof sb);
  sb = (sb - C::magic_bits + C::bias) << C::mant_bits;
  T scale;  // 2^n
  std::memcpy(&scale, &sb, sizeof scale);
  return scale * expm1_poly(r) + scale;
#endif
}

// softmax([l0, l1])[0] without overflow for any finite logits.
template <typename T>
MFIF_HOST_DEVICE T prob0(T l0, T l1) {
  const T z = l1 - l0;
  const T e = exp_neg(z < T(0) ? -z : z);
  // z > 0: e^-z / (1 + e^-z); z <= 0: 1 / (1 + e^z). Written as a select of the
  // numerator only, which g++ keeps branch-free.
  return (z > T(0) ? e : T(1)) / (T(1) + e);
}

// True when v is NaN or +-Inf.
template <typename T>
MFIF_HOST_DEVICE bool non_finite(T v) {
  const T a = v < T(0) ? -v : v;
  return !(a <= ExpConsts<T>::max_finite);
}

// p[k] = softmax(l0[k], l1[k])[0] for k < n; returns true if a logit is NaN/Inf.
template <typename T>
inline bool logits_to_prob(const T* __restrict l0, const T* __restrict l1, T* __restrict p, int64_t n) {
  int bad = 0;
  for (int64_t k = 0; k < n; ++k) {
    p[k] = prob0(l0[k], l1[k]);
    bad |= int(non_finite(l0[k])) | int(non_finite(l1[k]));
  }
  return bad != 0;
}

// Softmax Jacobian for the backward: g0[k] = grad_p[k] * p (1 - p) = -g1[k],
// p = softmax(l0[k], l1[k])[0].
template <typename T>
inline void prob_backward(const T* __restrict grad_p, const T* __restrict l0, const T* __restrict l1, int64_t n,
                          T* __restrict g0, T* __restrict g1) {
  for (int64_t k = 0; k < n; ++k) {
    const T p = prob0(l0[k], l1[k]);
    const T g = grad_p[k] * (p * (T(1) - p));
    g0[k] = g;
    g1[k] = -g;
  }
}

// True if any of v[0..n) is NaN/Inf.
template <typename T>
inline bool any_non_finite(const T* __restrict v, int64_t n) {
  int bad = 0;
  for (int64_t k = 0; k < n; ++k) bad |= int(non_finite(v[k]));
  return bad != 0;
}

// ---- row kernels (CPU) -----------------------------------------------------------

// out[j] (+)= p[0][j] + ... + p[N-1][j] for j < n: one pass for up to four rows.
template <int N, bool kInit, typename T>
inline void add_rows_n(const T* const* p, int64_t n, T* __restrict out) {
  const T* __restrict a = p[0];
  const T* __restrict b = p[N > 1 ? 1 : 0];
  const T* __restrict c = p[N > 2 ? 2 : 0];
  const T* __restrict d = p[N > 3 ? 3 : 0];
  for (int64_t j = 0; j < n; ++j) {
    T s = a[j];
    if constexpr (N > 1) s += b[j];
    if constexpr (N > 2) s += c[j];
    if constexpr (N > 3) s += d[j];
    if constexpr (kInit) {
      out[j] = s;
    } else {
      out[j] += s;
    }
  }
}

// out[j] = sum_{i < count} p[i][j] for j < n (count >= 1), four rows per pass.
template <typename T>
inline void sum_ptrs(const T* const* p, int64_t count, int64_t n, T* __restrict out) {
  for (int64_t i = 0; i < count; i += 4) {
    const int64_t take = count - i < 4 ? count - i : 4;
    const T* const* q = p + i;
    if (i == 0) {
      switch (take) {
        case 1: add_rows_n<1, true>(q, n, out); break;
        case 2: add_rows_n<2, true>(q, n, out); break;
        case 3: add_rows_n<3, true>(q, n, out); break;
        default: add_rows_n<4, true>(q, n, out); break;
      }
    } else {
      switch (take) {
        case 1: add_rows_n<1, false>(q, n, out); break;
        case 2: add_rows_n<2, false>(q, n, out); break;
        case 3: add_rows_n<3, false>(q, n, out); break;
        default: add_rows_n<4, false>(q, n, out); break;
      }
    }
  }
}

// out[j] = sum_{i=lo}^{hi} rows[i * ld + j], j < n (direct sums, lo <= hi).
template <typename T>
inline void sum_rows(const T* rows, int64_t ld, int64_t lo, int64_t hi, int64_t n, T* __restrict out) {
  for (int64_t i = lo; i <= hi; i += 4) {
    const T* p[4];
    const int64_t take = hi - i + 1 < 4 ? hi - i + 1 : 4;
    for (int64_t t = 0; t < take; ++t) p[t] = rows + (i + t) * ld;
    if (i == lo) {
      sum_ptrs(p, take, n, out);
    } else {
      switch (take) {
        case 1: add_rows_n<1, false>(p, n, out); break;
        case 2: add_rows_n<2, false>(p, n, out); break;
        case 3: add_rows_n<3, false>(p, n, out); break;
        default: add_rows_n<4, false>(p, n, out); break;
      }
    }
  }
}

// out[j] = T(hi_row[j] - lo_row[j]) for running sums in double.
template <typename T>
inline void diff_rows(const double* __restrict hi_row, const double* __restrict lo_row, int64_t n, T* __restrict out) {
  for (int64_t j = 0; j < n; ++j) out[j] = T(hi_row[j] - lo_row[j]);
}

// acc[j] += row[j] (running column sums in double).
template <typename T>
inline void accumulate_row(const T* __restrict row, int64_t n, const double* __restrict prev, double* __restrict acc) {
  for (int64_t j = 0; j < n; ++j) acc[j] = prev[j] + double(row[j]);
}

// Box sums: out[k] = sum_{t<len} in[k + t] for k < n (in has n + len - 1 values).
template <typename T>
inline void box_sum(const T* __restrict in, int64_t n, int64_t len, T* __restrict out) {
  if (len <= kDirectMax) {
    const T* p[kDirectMax];
    for (int64_t t = 0; t < len; ++t) p[t] = in + t;
    sum_ptrs(p, len, n, out);
  } else {
    double acc = 0.0;
    for (int64_t t = 0; t < len; ++t) acc += double(in[t]);
    out[0] = T(acc);
    for (int64_t k = 1; k < n; ++k) {
      acc += double(in[k + len - 1]) - double(in[k - 1]);
      out[k] = T(acc);
    }
  }
}

// Expansion to pixels: z[x] = src[x % stride][x / stride] * w[x] for x < n.
// kStride > 0 fixes the stride at compile time (so the loop vectorises);
// kStride == 0 takes it from `stride`.
template <int kStride, typename T>
inline void expand_row(const T* const* src, const T* __restrict w, int64_t n, int64_t stride, T* __restrict z) {
  if constexpr (kStride == 1) {
    const T* s0 = src[0];
    for (int64_t x = 0; x < n; ++x) z[x] = s0[x] * w[x];
  } else if constexpr (kStride == 2) {
    const T* s0 = src[0];
    const T* s1 = src[1];
    const int64_t half = n / 2;
    for (int64_t k = 0; k < half; ++k) {
      z[2 * k] = s0[k] * w[2 * k];
      z[2 * k + 1] = s1[k] * w[2 * k + 1];
    }
    if (n % 2) z[n - 1] = s0[half] * w[n - 1];
  } else {
    for (int64_t x = 0; x < n; ++x) z[x] = src[x % stride][x / stride] * w[x];
  }
}

// Backward, per pixel row: h_out[j] = sum_{x in [j*stride, j*stride + patch)} gw[x]
// for j < n_scores, where gw is the weighted gradient row zero-padded to
// (n_scores + q + 1) * stride values and blocks (block sums of stride pixels)
// is scratch of n_scores + q + 1 values. q = patch / stride, m = patch % stride.
template <typename T>
inline void window_sums(const T* __restrict gw, int64_t n_scores, int64_t patch, int64_t stride,
                        T* __restrict blocks, T* __restrict h_out) {
  const int64_t q = patch / stride, m = patch % stride;
  const int64_t nb = n_scores + q + 1;
  const T* b;
  if (stride == 1) {
    b = gw;
  } else {
    if (stride == 2) {
      for (int64_t k = 0; k < nb; ++k) blocks[k] = gw[2 * k] + gw[2 * k + 1];
    } else {
      for (int64_t k = 0; k < nb; ++k) {
        T s = gw[k * stride];
        for (int64_t r = 1; r < stride; ++r) s += gw[k * stride + r];
        blocks[k] = s;
      }
    }
    b = blocks;
  }
  box_sum(b, n_scores, q, h_out);
  for (int64_t r = 0; r < m; ++r) {  // partial block after the q full ones
    const T* g = gw + q * stride + r;
    for (int64_t j = 0; j < n_scores; ++j) h_out[j] += g[j * stride];
  }
}

}  // namespace mfif::patch_mean
