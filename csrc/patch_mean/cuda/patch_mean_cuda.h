// Launchers of the CUDA patch_mean kernels (patch_mean_cuda.cu); plain C++.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// Focus map out [B, H, W] from scores [B, h, w] (probabilities) or
// [B, 2, h, w] (logits, softmax fused); scratch holds B*h*W values.
template <typename T>
cudaError_t patch_mean_forward(const T* scores, bool logits, T* out, T* scratch, int64_t B, int64_t h, int64_t w,
                               int64_t H, int64_t W, int64_t patch, int64_t stride, cudaStream_t stream);

// Its adjoint: grad [B, H, W] -> grad_scores of the shape of scores; scratch
// holds B*H*w values.
template <typename T>
cudaError_t patch_mean_backward(const T* grad, const T* scores, bool logits, T* grad_scores, T* scratch, int64_t B,
                                int64_t h, int64_t w, int64_t H, int64_t W, int64_t patch, int64_t stride,
                                cudaStream_t stream);

}  // namespace mfif::cuda
