// CUDA kernels of mfif::patch_mean and its backward (focus map of Liu et al.
// 2017). The geometry and the fused softmax are the CPU kernel's
// (patch_mean_kernels.h, MFIF_HOST_DEVICE); the mean is separable:
//   forward:  R[b, i, x] = sum of the probabilities of score row i whose
//             windows cover column x (the softmax applied as they are read),
//             then M[b, y, x] = sum of R over the score rows covering row y,
//             divided by the number of covering windows;
//   backward: the adjoint, G[b, y, j] = sum over window j's columns of
//             grad / count_x, then sum over window i's rows of G / count_y,
//             times the softmax Jacobian for logits.
// One thread per output element, each a direct sum of at most patch / stride
// (forward) or patch (backward) values in double, in a fixed order:
// deterministic. Non-finite logits give NaN (no host check, see the .cpp).
#include "common/cuda/launch.cuh"
#include "patch_mean/cuda/patch_mean_cuda.h"
#include "patch_mean/patch_mean_kernels.h"

namespace mfif::cuda {
namespace {

namespace pm = mfif::patch_mean;

// Probability of score (b, i, j); NaN for a non-finite logit, so that bad
// input never turns into a plausible focus map.
template <typename T>
__device__ __forceinline__ double probability(const T* s, bool logits, int64_t b, int64_t i, int64_t j, int64_t h,
                                              int64_t w) {
  if (!logits) return double(s[(b * h + i) * w + j]);
  const T l0 = s[((b * 2) * h + i) * w + j], l1 = s[((b * 2 + 1) * h + i) * w + j];
  if (pm::non_finite(l0) || pm::non_finite(l1)) return __longlong_as_double(0x7ff8000000000000LL);
  return double(pm::prob0(l0, l1));
}

template <typename T>
__global__ void rows_of_windows(const T* __restrict__ s, bool logits, T* __restrict__ R, int64_t B, int64_t h,
                                int64_t w, int64_t W, int64_t patch, int64_t stride) {
  MFIF_GRID_LOOP(t, B * h * W) {
    const int64_t x = t % W, i = (t / W) % h, b = t / (W * h);
    const int64_t j0 = pm::cover_first(x, patch, stride), j1 = pm::cover_last(x, stride, w);
    double acc = 0.0;
    for (int64_t j = j0; j <= j1; ++j) acc += probability(s, logits, b, i, j, h, w);
    R[t] = T(acc);
  }
}

template <typename T>
__global__ void focus_map(const T* __restrict__ R, T* __restrict__ out, int64_t B, int64_t h, int64_t w, int64_t H,
                          int64_t W, int64_t patch, int64_t stride) {
  MFIF_GRID_LOOP(t, B * H * W) {
    const int64_t x = t % W, y = (t / W) % H, b = t / (W * H);
    const int64_t i0 = pm::cover_first(y, patch, stride), i1 = pm::cover_last(y, stride, h);
    const T* col = R + b * h * W + x;
    double acc = 0.0;
    for (int64_t i = i0; i <= i1; ++i) acc += double(col[i * W]);
    const double count = double(i1 - i0 + 1) * double(pm::cover_count(x, w, patch, stride));
    out[t] = T(acc / count);
  }
}

template <typename T>
__global__ void window_column_sums(const T* __restrict__ g, T* __restrict__ G, int64_t B, int64_t H, int64_t W,
                                   int64_t w, int64_t patch, int64_t stride) {
  MFIF_GRID_LOOP(t, B * H * w) {
    const int64_t j = t % w, y = (t / w) % H, b = t / (w * H);
    const int64_t x0 = j * stride, x1 = x0 + patch < W ? x0 + patch : W;
    const T* row = g + (b * H + y) * W;
    double acc = 0.0;
    for (int64_t x = x0; x < x1; ++x) acc += double(row[x]) / double(pm::cover_count(x, w, patch, stride));
    G[t] = T(acc);
  }
}

template <typename T>
__global__ void window_row_sums(const T* __restrict__ G, const T* __restrict__ s, bool logits, T* __restrict__ gs,
                                int64_t B, int64_t h, int64_t w, int64_t H, int64_t patch, int64_t stride) {
  MFIF_GRID_LOOP(t, B * h * w) {
    const int64_t j = t % w, i = (t / w) % h, b = t / (w * h);
    const int64_t y0 = i * stride, y1 = y0 + patch < H ? y0 + patch : H;
    const T* col = G + b * H * w + j;
    double acc = 0.0;
    for (int64_t y = y0; y < y1; ++y) acc += double(col[y * w]) / double(pm::cover_count(y, h, patch, stride));
    if (!logits) {
      gs[t] = T(acc);
    } else {
      // d p / d l0 = p (1 - p) = -d p / d l1, as in pm::prob_backward
      const int64_t at0 = ((b * 2) * h + i) * w + j, at1 = at0 + h * w;
      const T p = pm::prob0(s[at0], s[at1]);
      const T g = T(acc) * (p * (T(1) - p));
      gs[at0] = g;
      gs[at1] = -g;
    }
  }
}

constexpr int kThreads = 256;

}  // namespace

template <typename T>
cudaError_t patch_mean_forward(const T* scores, bool logits, T* out, T* scratch, int64_t B, int64_t h, int64_t w,
                               int64_t H, int64_t W, int64_t patch, int64_t stride, cudaStream_t stream) {
  rows_of_windows<T><<<grid_for(B * h * W, kThreads), kThreads, 0, stream>>>(scores, logits, scratch, B, h, w, W,
                                                                            patch, stride);
  focus_map<T><<<grid_for(B * H * W, kThreads), kThreads, 0, stream>>>(scratch, out, B, h, w, H, W, patch, stride);
  return last_launch_status();
}

template <typename T>
cudaError_t patch_mean_backward(const T* grad, const T* scores, bool logits, T* grad_scores, T* scratch, int64_t B,
                                int64_t h, int64_t w, int64_t H, int64_t W, int64_t patch, int64_t stride,
                                cudaStream_t stream) {
  window_column_sums<T><<<grid_for(B * H * w, kThreads), kThreads, 0, stream>>>(grad, scratch, B, H, W, w, patch,
                                                                               stride);
  window_row_sums<T><<<grid_for(B * h * w, kThreads), kThreads, 0, stream>>>(scratch, scores, logits, grad_scores,
                                                                            B, h, w, H, patch, stride);
  return last_launch_status();
}

#define MFIF_INSTANTIATE(T)                                                                                     \
  template cudaError_t patch_mean_forward<T>(const T*, bool, T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                             int64_t, int64_t, cudaStream_t);                                   \
  template cudaError_t patch_mean_backward<T>(const T*, const T*, bool, T*, T*, int64_t, int64_t, int64_t,       \
                                              int64_t, int64_t, int64_t, int64_t, cudaStream_t);
MFIF_INSTANTIATE(float)
MFIF_INSTANTIATE(double)
#undef MFIF_INSTANTIATE

}  // namespace mfif::cuda
