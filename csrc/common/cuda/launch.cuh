// Small helpers shared by the torch-free CUDA kernel files (compiled by nvcc
// as C++17, no ATen headers: see BUILD_NOTES). Launchers take raw pointers
// and a cudaStream_t and return the launch status; the torch side (the
// registration .cpp) turns a bad status into an error. Nothing here
// synchronises with the host, so every op can be captured in a CUDA graph.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mfif::cuda {

// Ceiling division for grid sizes.
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A grid dimension must stay below 2^31 (x) or 65536 (y, z).
constexpr int64_t kMaxGridYZ = 65535;

// Status of the launches just made on this thread (no synchronisation).
inline cudaError_t last_launch_status() { return cudaGetLastError(); }

// Grid-stride loop over [0, n) with 64-bit indices.
#define MFIF_GRID_LOOP(i, n)                                                              \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);               \
       i += int64_t(blockDim.x) * gridDim.x)

// Blocks for a grid-stride loop over n items: enough to fill an H100 many
// times over, never more than needed.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = ceil_div(n, threads);
  return unsigned(blocks < 1 ? 1 : (blocks > (int64_t(1) << 20) ? (int64_t(1) << 20) : blocks));
}

}  // namespace mfif::cuda
