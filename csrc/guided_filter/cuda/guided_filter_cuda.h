// Launcher of the CUDA guided filter (guided_filter_cuda.cu); plain C++.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// Scratch the launcher needs, in bytes, for planes_per_chunk source planes.
int64_t guided_filter_scratch_bytes(int64_t guide_channels, int64_t planes_per_chunk, int64_t H, int64_t W,
                                    int64_t element_size);

// q = guided_filter(guide [B, CG, H, W], src [B, C, H, W]) into out [B, C, H, W].
// The B*C source planes are filtered planes_per_chunk at a time through
// `scratch` (guided_filter_scratch_bytes of it). Queued on `stream`.
template <typename T>
cudaError_t guided_filter(const T* guide, const T* src, T* out, void* scratch, int64_t B, int64_t CG, int64_t C,
                          int64_t H, int64_t W, int64_t radius, double eps, int64_t planes_per_chunk,
                          cudaStream_t stream);

}  // namespace mfif::cuda
