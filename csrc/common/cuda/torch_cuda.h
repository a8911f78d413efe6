// Torch side of the CUDA ops (compiled by g++, never by nvcc): argument
// checks, the device guard, the current stream and the launch-status check.
// c10/cuda only: this toolkit has no cuBLAS headers, so ATen/cuda/CUDAContext.h
// cannot be used (see BUILD_NOTES).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_runtime.h>

namespace mfif {

inline void check_cuda(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cuda(), "mfif: ", name, " is on ", t.device(),
              " but this op's kernel was called for CUDA");
}

inline void check_same_cuda_device(const at::Tensor& a, const char* an, const at::Tensor& b, const char* bn) {
  TORCH_CHECK(a.device() == b.device(), "mfif: ", an, " is on ", a.device(), " but ", bn, " is on ", b.device(),
              "; put both on one device");
}

// The stream the caller's work is queued on (so ops order with the caller's
// work and can be captured in a CUDA graph).
inline cudaStream_t current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

// Raises if a launcher reported an error (launch errors only: no sync).
inline void check_launch(cudaError_t status, const char* op) {
  TORCH_CHECK(status == cudaSuccess, "mfif: CUDA kernel of ", op, " failed to launch: ",
              cudaGetErrorString(status));
}

}  // namespace mfif
