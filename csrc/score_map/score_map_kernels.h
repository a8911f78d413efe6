// Torch-free row math of mfif::score_map (the folded dense head of Liu et al. 2017).
//
// The two-class softmax only needs the logit difference d = l0 - l1, which is
// itself an 8x8 convolution with the difference of the two filters, Wd = W0 - W1:
// softmax(l)[0] = sigmoid(d). Per pixel p of the features and per kernel offset
// o = dy * k + dx, the partial score P[o][p] = sum_c Wd[c, dy, dx] X[c, p] is one
// GEMM (done by the .cpp with at::mm); the score of window (i, j) is then the
// shift-and-sum  d[i, j] = bias + sum_{dy, dx} P[dy * k + dx][(i + dy, j + dx)],
// k*k contiguous rows added per output row (the row adder of patch_mean).
//
// The per-score math (prob_of_diff, slope_of_diff, shift_sum_at) is
// MFIF_HOST_DEVICE: the CUDA kernel (cuda/score_map_cuda.cu) calls the same
// functions; the row loops below are the CPU kernel's.
#pragma once

#include <cstdint>

#include "common/host_device.h"
#include "patch_mean/patch_mean_kernels.h"

namespace mfif::score_map {

// What the op writes per score: the probability p = softmax([l0, l1])[0] =
// sigmoid(d), or its slope dp/dd = p (1 - p) for the backward.
enum class Out { kProb, kSlope };

// p = sigmoid(d) without overflow (patch_mean's two-class softmax of [d, 0]).
template <typename T>
MFIF_HOST_DEVICE T prob_of_diff(T d) {
  return patch_mean::prob0(d, T(0));
}

// dp/dd = p (1 - p) = e / (1 + e)^2 with e = exp(-|d|). Computed from d, not
// from p: where the softmax saturates (p near 1), 1 - p from a rounded p loses
// every digit (float32 p = 1 - 1e-6 has 1 - p wrong by ~6%).
template <typename T>
MFIF_HOST_DEVICE T slope_of_diff(T d) {
  const T e = patch_mean::exp_neg(d < T(0) ? -d : d);
  const T s = T(1) / (T(1) + e);
  return e * s * s;
}

template <Out kOut, typename T>
MFIF_HOST_DEVICE T score_of_diff(T d) {
  if constexpr (kOut == Out::kProb) {
    return prob_of_diff(d);
  } else {
    return slope_of_diff(d);
  }
}

// d - bias of score j of a band (the CUDA kernel's per-score form of
// shift_sum_row): sum_{dy, dx < k} P[(dy * k + dx) * plane + dy * ld + dx + j],
// the k*k offsets added in the order dy, then dx (shift_sum_row adds them in
// groups of four: the two agree to rounding, not bit for bit).
template <typename T>
MFIF_HOST_DEVICE T shift_sum_at(const T* P, int64_t plane, int64_t ld, int64_t k, int64_t j) {
  T acc = T(0);
  for (int64_t dy = 0; dy < k; ++dy) {
    const T* row = P + dy * k * plane + dy * ld + j;
    for (int64_t dx = 0; dx < k; ++dx) acc += row[dx * plane + dx];
  }
  return acc;
}

// acc[j] = sum_{dy, dx < k} P[(dy * k + dx) * plane + dy * ld + dx + j] for j < n:
// P holds the k*k offset planes (each `plane` values apart) of a band of feature
// rows (`ld` values apart), starting at the output row's first feature row.
// `ptrs` is scratch for k*k pointers.
template <typename T>
inline void shift_sum_row(const T* P, int64_t plane, int64_t ld, int64_t k, int64_t n, const T** ptrs,
                          T* __restrict acc) {
  for (int64_t dy = 0; dy < k; ++dy) {
    for (int64_t dx = 0; dx < k; ++dx) ptrs[dy * k + dx] = P + (dy * k + dx) * plane + dy * ld + dx;
  }
  patch_mean::sum_ptrs(ptrs, k * k, n, acc);
}

// In place, v = d[j] + bias: p = softmax([v, 0])[0] = sigmoid(v) (kProb) or
// p (1 - p) (kSlope); true if a value is NaN/Inf.
template <Out kOut, typename T>
inline bool diff_to_score(T* __restrict d, T bias, int64_t n) {
  int bad = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T v = d[j] + bias;
    bad |= int(patch_mean::non_finite(v));
    d[j] = score_of_diff<kOut>(v);
  }
  return bad != 0;
}

}  // namespace mfif::score_map
