// Launchers of the CUDA NPS loss kernels (nps_loss_cuda.cu); plain C++.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// Bytes of scratch the launchers need for `planes` planes of n elements.
int64_t nps_scratch_bytes(int64_t planes, int64_t n);

// loss [B] of pred, target [B, C, n]; queued on `stream`.
template <typename T>
cudaError_t nps_loss_forward(const T* pred, const T* target, T* loss, void* scratch, int64_t B, int64_t C, int64_t n,
                             T alpha, cudaStream_t stream);

// grad_pred [B, C, n] = grad [B] times d loss_b / d pred, fused in one pass
// over the data (plus two updates per plane for the min/max terms).
template <typename T>
cudaError_t nps_loss_backward(const T* grad, const T* pred, const T* target, T* grad_pred, void* scratch, int64_t B,
                              int64_t C, int64_t n, T alpha, cudaStream_t stream);

}  // namespace mfif::cuda
