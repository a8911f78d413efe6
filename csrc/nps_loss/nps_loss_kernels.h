// Torch-free math of the NPS loss (Guerrero Pena et al., eq. 4 and 5):
//   phi_alpha(d) = 2 / (exp(-alpha |d|) + 1) - 1 = tanh(alpha |d| / 2)
//   loss = sum_c [ mean_p phi(y_c - yhat_c) + |min y_c - min yhat_c| + |max y_c - max yhat_c| ]
// Raw pointers, templates and inline functions only, so that a CUDA kernel can
// reuse the per-element math (MFIF_HOST_DEVICE). The chunk loops below are the
// CPU kernels; the .cpp cuts every (b, c) plane into chunks and runs them in
// parallel.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "common/fast_exp.h"
#include "common/host_device.h"


namespace mfif::nps {

// ---- exp and expm1 of a non-positive argument --------------------------------
// Written as plain arithmetic (Cody-Waite range reduction, Taylor polynomial,
// exponent bits built by hand) so that g++ vectorises the loops that call it;
// libm's exp/expm1/tanh are scalar calls. Accuracy: a few ulp.
// z must be <= 0 or NaN; it is clamped from below (exp(-87) ~ 1.6e-38 is
// already below anything that matters next to 1), and NaN stays NaN.
using fast_exp::ExpConsts;
using fast_exp::expm1_poly;

// e = exp(z) and em1 = expm1(z) for zmin <= z <= 0 (em1 keeps full relative
// accuracy near 0, where 1 - exp(z) would cancel). The caller clamps z, with a
// bound it computes at run time: a compile-time clamp constant lets g++ thread
// the clamped path into a constant and then the loop no longer vectorises.
template <typename T>
MFIF_HOST_DEVICE void exp_expm1_nonpos(T z, T& e, T& em1) {
#ifdef __CUDA_ARCH__
  // both from the library: em1 + 1 would lose all relative accuracy of a small e
  if constexpr (std::is_same_v<T, float>) {
    em1 = expm1f(z);
    e = expf(z);
  } else {
    em1 = ::expm1(z);
    e = ::exp(z);
  }
#else
  using C = ExpConsts<T>;
  // n = round(z / ln2) with the add-a-magic-number trick (no float->int call).
  T shifted = z * C::log2e + C::round_magic;
  T n = shifted - C::round_magic;
  T r = (z - n * C::ln2_hi) - n * C::ln2_lo;
  T pm1 = expm1_poly(r);
  T scale;  // 2^n, n in [-126, 0] (float) or [-1022, 0] (double)
  if constexpr (std::is_same_v<T, float>) {
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4B400000 + 127) << 23;  // low bits of `shifted` hold n
    std::memcpy(&scale, &bits, sizeof scale);
  } else {
    int64_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4338000000000000LL + 1023) << 52;
    std::memcpy(&scale, &bits, sizeof scale);
  }
  e = scale * pm1 + scale;
  em1 = scale * pm1 + (scale - T(1));
  // NaN input: pm1 is NaN, so e and em1 are NaN whatever scale came out as.
#endif
}

// |d| beyond which phi_alpha(d) is 1 to working precision; phi and its
// derivative clamp |d| there so that exp never leaves its range.
template <typename T>
MFIF_HOST_DEVICE T saturation(T alpha) {
  return -ExpConsts<T>::zmin / alpha;
}

// phi_alpha(d) = tanh(alpha |d| / 2) = -expm1(-alpha|d|) / (2 + expm1(-alpha|d|)).
// Never overflows: the exponent is <= 0. dmax = saturation(alpha).
template <typename T>
MFIF_HOST_DEVICE T phi(T d, T alpha, T dmax) {
  T e, em1;
  T ad = d < T(0) ? -d : d;
  ad = ad > dmax ? dmax : ad;  // keeps NaN (the comparison is false)
  exp_expm1_nonpos(-alpha * ad, e, em1);
  return -em1 / (T(2) + em1);
}

// d phi / d pred, with d = target - pred: -sign(d) * alpha/2 * (1 - phi^2)
// = -sign(d) * 2 alpha e / (1 + e)^2 with e = exp(-alpha |d|); sign(0) = 0.
template <typename T>
MFIF_HOST_DEVICE T phi_grad_pred(T d, T alpha, T dmax) {
  T e, em1;
  T ad = d < T(0) ? -d : d;
  ad = ad > dmax ? dmax : ad;
  exp_expm1_nonpos(-alpha * ad, e, em1);
  T sgn = T(d > T(0)) - T(d < T(0));
  T onepe = T(1) + e;
  return -sgn * alpha * (T(2) * e / (onepe * onepe));
}

// ---- per-chunk kernels ------------------------------------------------------
// Statistics of one chunk of a plane: sum of phi and the extremes of both inputs.
// A chunk with a NaN has a NaN phi_sum (d = t - p is NaN); an Inf shows up in
// the extremes (or as NaN when both inputs are Inf at one pixel).
template <typename T>
struct ChunkStats {
  double phi_sum;
  T pmin, pmax, tmin, tmax;
};

// Lanes: independent accumulators so that g++ vectorises the reductions
// without -ffast-math (each lane keeps a fixed summation order, so the result
// does not depend on the thread count).
template <typename T>
constexpr int64_t kLanes = std::is_same_v<T, float> ? 16 : 8;

// Forward: phi sum and extremes of pred and target over n elements.
// kWriteGrad: also write gpred[k] = scale * d phi(target[k] - pred[k]) / d pred[k].
template <typename T, bool kWriteGrad>
inline ChunkStats<T> chunk_pass(const T* __restrict pred, const T* __restrict target, int64_t n, T alpha,
                                T* __restrict gpred, T scale) {
  constexpr int64_t L = kLanes<T>;
  const T dmax = saturation(alpha);
  constexpr T inf = std::numeric_limits<T>::infinity();
  T acc[L], pmn[L], pmx[L], tmn[L], tmx[L];
  for (int64_t l = 0; l < L; ++l) {
    acc[l] = T(0);
    pmn[l] = inf;
    pmx[l] = -inf;
    tmn[l] = inf;
    tmx[l] = -inf;
  }
  int64_t k = 0;
  for (; k + L <= n; k += L) {
    for (int64_t l = 0; l < L; ++l) {
      T p = pred[k + l], t = target[k + l];
      T d = t - p;
      if constexpr (kWriteGrad) {
        gpred[k + l] = scale * phi_grad_pred(d, alpha, dmax);
        acc[l] += d;  // only for the NaN check
      } else {
        acc[l] += phi(d, alpha, dmax);
      }
      pmn[l] = p < pmn[l] ? p : pmn[l];
      pmx[l] = p > pmx[l] ? p : pmx[l];
      tmn[l] = t < tmn[l] ? t : tmn[l];
      tmx[l] = t > tmx[l] ? t : tmx[l];
    }
  }
  for (int64_t l = 0; k < n; ++k, ++l) {
    T p = pred[k], t = target[k];
    T d = t - p;
    if constexpr (kWriteGrad) {
      gpred[k] = scale * phi_grad_pred(d, alpha, dmax);
      acc[l] += d;
    } else {
      acc[l] += phi(d, alpha, dmax);
    }
    pmn[l] = p < pmn[l] ? p : pmn[l];
    pmx[l] = p > pmx[l] ? p : pmx[l];
    tmn[l] = t < tmn[l] ? t : tmn[l];
    tmx[l] = t > tmx[l] ? t : tmx[l];
  }
  ChunkStats<T> s{0.0, inf, -inf, inf, -inf};
  for (int64_t l = 0; l < L; ++l) {
    s.phi_sum += double(acc[l]);
    s.pmin = pmn[l] < s.pmin ? pmn[l] : s.pmin;
    s.pmax = pmx[l] > s.pmax ? pmx[l] : s.pmax;
    s.tmin = tmn[l] < s.tmin ? tmn[l] : s.tmin;
    s.tmax = tmx[l] > s.tmax ? tmx[l] : s.tmax;
  }
  return s;
}

// First index k < n with x[k] == v, or -1.
template <typename T>
inline int64_t first_index_of(const T* x, int64_t n, T v) {
  for (int64_t k = 0; k < n; ++k) {
    if (x[k] == v) return k;
  }
  return -1;
}

template <typename T>
MFIF_HOST_DEVICE T sign(T v) {
  return T(v > T(0)) - T(v < T(0));
}

}  // namespace mfif::nps
