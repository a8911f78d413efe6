// Torch-free row math of mfif::score_map (the folded dense head of Liu et al. 2017).
//
// The two-class softmax only needs the logit difference d = l0 - l1, which is
// itself an 8x8 convolution with the difference of the two filters, Wd = W0 - W1:
// softmax(l)[0] = sigmoid(d). Per pixel p of the features and per kernel offset
// o = dy * k + dx, the partial score P[o][p] = sum_c Wd[c, dy, dx] X[c, p] is one
// GEMM (done by the .cpp with at::mm); the score of window (i, j) is then the
// shift-and-sum  d[i, j] = bias + sum_{dy, dx} P[dy * k + dx][(i + dy, j + dx)],
// k*k contiguous rows added per output row (the row adder of patch_mean).
#pragma once

#include <cstdint>

#include "patch_mean/patch_mean_kernels.h"

namespace mfif::score_map {

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

// p[j] = softmax([d[j] + bias, 0])[0] = sigmoid(d[j] + bias) in place; true if a value is NaN/Inf.
template <typename T>
inline bool diff_to_prob(T* __restrict d, T bias, int64_t n) {
  int bad = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T v = d[j] + bias;
    bad |= int(patch_mean::non_finite(v));
    d[j] = patch_mean::prob0(v, T(0));
  }
  return bad != 0;
}

}  // namespace mfif::score_map
