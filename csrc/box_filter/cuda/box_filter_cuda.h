// Launchers of the CUDA box filter (csrc/box_filter/cuda/box_filter_cuda.cu);
// plain C++ so that the torch side (g++) can call them.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// out = box_filter(x) (adjoint = false) or its transpose applied to x
// (adjoint = true) for `planes` planes of H x W; scratch holds planes*H*W
// values. Queued on `stream`, no synchronisation.
template <typename T>
cudaError_t box_filter(const T* x, T* out, T* scratch, int64_t planes, int64_t H, int64_t W, int64_t radius,
                       bool normalize, bool adjoint, cudaStream_t stream);

}  // namespace mfif::cuda
