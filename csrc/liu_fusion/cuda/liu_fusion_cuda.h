// Launcher of the fused last stage of Liu et al.'s post-processing
// (liu_fusion_cuda.cu); plain C++.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// Scratch bytes for B images of H x W.
int64_t liu_fusion_scratch_bytes(int64_t B, int64_t H, int64_t W, int64_t element_size);

// From the decision map d [B, H, W] (bytes 0/1) and the sources a, b
// [B, C, H, W] (C = 1 or 3): weights = guided_filter(grey(d ? a : b), d,
// radius, eps) [B, H, W] and fused = b + weights * (a - b) [B, C, H, W].
template <typename T>
cudaError_t liu_fusion(const uint8_t* decision, const T* a, const T* b, T* fused, T* weights, void* scratch,
                       int64_t B, int64_t C, int64_t H, int64_t W, int64_t radius, double eps, cudaStream_t stream);

}  // namespace mfif::cuda
