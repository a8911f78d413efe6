// Launcher of the CUDA score_map kernel (score_map_cuda.cu); plain C++.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// Scores of one band of `rows` score rows of one image, from the partial
// scores P of the band's feature rows (k*k offset planes, `plane` values
// apart; feature rows `ld` values apart): out[i * w + j] = sigmoid(d) or, with
// slope, sigmoid'(d), d = shift-and-sum of P + bias[0] - bias[1] (bias: two
// values or nullptr). Non-finite d gives NaN (no host check: no sync).
template <typename T>
cudaError_t score_map_band(const T* P, int64_t plane, int64_t ld, int64_t k, const T* bias, T* out, int64_t rows,
                           int64_t w, bool slope, cudaStream_t stream);

}  // namespace mfif::cuda
