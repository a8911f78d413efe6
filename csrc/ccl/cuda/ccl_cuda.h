// Launchers of the CUDA connected-component kernels (ccl_cuda.cu); plain C++.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mfif::cuda {

// Scratch of connected_components for n = B*H*W pixels (n < 2^31).
size_t ccl_label_scratch_bytes(int64_t n);
// Scratch of remove_small_regions for n pixels.
size_t ccl_filter_scratch_bytes(int64_t n);

// labels [B, H, W] (int32): 0 on unset pixels, 1..n per image in raster order
// of each region's first pixel, exactly as the CPU kernel. k = 1: 8-connected.
cudaError_t connected_components(const uint8_t* mask, int32_t* labels, void* scratch, int64_t B, int64_t H,
                                 int64_t W, int k, cudaStream_t stream);

// out = 1 - bwareaopen(1 - bwareaopen(mask, a), a) (bool bytes), a >= 2.
cudaError_t remove_small_regions(const uint8_t* mask, uint8_t* out, void* scratch, int64_t B, int64_t H, int64_t W,
                                 int32_t min_area, int k, cudaStream_t stream);

}  // namespace mfif::cuda
