// CUDA kernel of mfif::score_map (and its slope for the backward): the
// shift-and-sum of the partial scores, the bias and the sigmoid, one thread
// per score. The GEMM of the partial scores P = Wd X is cuBLAS's, called by
// the torch side (score_map_cuda.cpp) through at::mm, exactly as the CPU
// kernel does per band. The per-score math (shift_sum_at, score_of_diff) is
// the CPU kernel's (score_map_kernels.h, MFIF_HOST_DEVICE). Each thread sums
// its k*k offsets in a fixed order: deterministic. Neighbouring threads read
// neighbouring P values of each offset plane (coalesced).
#include "common/cuda/launch.cuh"
#include "score_map/cuda/score_map_cuda.h"
#include "score_map/score_map_kernels.h"

namespace mfif::cuda {
namespace {

namespace sm = mfif::score_map;

template <sm::Out kOut, typename T>
__global__ void band_scores(const T* __restrict__ P, int64_t plane, int64_t ld, int64_t k, const T* __restrict__ bias,
                            T* __restrict__ out, int64_t rows, int64_t w) {
  const T bd = bias == nullptr ? T(0) : bias[0] - bias[1];
  MFIF_GRID_LOOP(t, rows * w) {
    const int64_t j = t % w, i = t / w;
    const T v = sm::shift_sum_at(P + i * ld, plane, ld, k, j) + bd;
    // v - v: NaN for NaN and +-Inf alike (a saturated 0 or 1 would hide bad input)
    out[t] = mfif::patch_mean::non_finite(v) ? v - v : sm::score_of_diff<kOut>(v);
  }
}

constexpr int kThreads = 256;

}  // namespace

template <typename T>
cudaError_t score_map_band(const T* P, int64_t plane, int64_t ld, int64_t k, const T* bias, T* out, int64_t rows,
                           int64_t w, bool slope, cudaStream_t stream) {
  const unsigned blocks = grid_for(rows * w, kThreads);
  if (slope) {
    band_scores<sm::Out::kSlope, T><<<blocks, kThreads, 0, stream>>>(P, plane, ld, k, bias, out, rows, w);
  } else {
    band_scores<sm::Out::kProb, T><<<blocks, kThreads, 0, stream>>>(P, plane, ld, k, bias, out, rows, w);
  }
  return last_launch_status();
}

#define MFIF_INSTANTIATE(T)                                                                                 \
  template cudaError_t score_map_band<T>(const T*, int64_t, int64_t, int64_t, const T*, T*, int64_t, int64_t, \
                                         bool, cudaStream_t);
MFIF_INSTANTIATE(float)
MFIF_INSTANTIATE(double)
#undef MFIF_INSTANTIATE

}  // namespace mfif::cuda
