// MFIF_HOST_DEVICE marks per-pixel math shared by the CPU and CUDA kernels.
#pragma once
#if defined(__CUDACC__)
#define MFIF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MFIF_HOST_DEVICE inline
#endif
