// CUDA kernels of mfif::nps_loss and mfif::_nps_loss_backward. The per-element
// math (phi, its derivative) is the CPU kernel's (nps_loss_kernels.h).
//
// 1. chunk_stats: one block per (plane, chunk of kChunk elements) reduces the
//    phi sum and the extremes of pred (with the index of their first
//    occurrence) and target, in a fixed tree order; the backward also writes
//    grad / n * d phi / d pred of every element in the same pass.
// 2. plane_stats: one warp per batch item combines its planes' chunks in a
//    fixed order and writes the loss (forward) or the planes' extremes.
// 3. (backward) extreme_grads: one thread per plane adds the subgradients of
//    |min y - min yhat| and |max y - max yhat| at the first argmin / argmax of
//    pred, as the CPU kernel does.
// No float atomics, nothing depends on scheduling: deterministic.
#include <cstdint>

#include "common/cuda/launch.cuh"
#include "nps_loss/cuda/nps_loss_cuda.h"
#include "nps_loss/nps_loss_kernels.h"

namespace mfif::cuda {
namespace {

constexpr int64_t kChunk = 4096;
constexpr int kThreads = 256;

template <typename T>
struct Stats {
  double phi_sum;
  T pmin, pmax, tmin, tmax;
  int64_t imin, imax;  // first (lowest) index of pmin / pmax in the plane, -1 if none
};

// Inf/-Inf starting values without <limits> in device code.
template <typename T>
__device__ __forceinline__ T pos_inf() {
  return T(__longlong_as_double(0x7ff0000000000000LL));
}

template <typename T>
__device__ __forceinline__ Stats<T> empty_stats() {
  return {0.0, pos_inf<T>(), -pos_inf<T>(), pos_inf<T>(), -pos_inf<T>(), -1, -1};
}

// Symmetric combination (the same result whichever side is which): sums are
// added, ties of an extreme go to the lower index.
template <typename T>
__device__ __forceinline__ Stats<T> combine(const Stats<T>& a, const Stats<T>& b) {
  Stats<T> r;
  r.phi_sum = a.phi_sum + b.phi_sum;
  const bool amin = a.imin >= 0 && (b.imin < 0 || a.pmin < b.pmin || (a.pmin == b.pmin && a.imin < b.imin));
  r.pmin = amin ? a.pmin : b.pmin;
  r.imin = amin ? a.imin : b.imin;
  const bool amax = a.imax >= 0 && (b.imax < 0 || a.pmax > b.pmax || (a.pmax == b.pmax && a.imax < b.imax));
  r.pmax = amax ? a.pmax : b.pmax;
  r.imax = amax ? a.imax : b.imax;
  r.tmin = a.tmin < b.tmin ? a.tmin : b.tmin;
  r.tmax = a.tmax > b.tmax ? a.tmax : b.tmax;
  return r;
}

template <typename T>
__device__ __forceinline__ Stats<T> shuffle_xor(const Stats<T>& s, int mask) {
  Stats<T> o;
  o.phi_sum = __shfl_xor_sync(0xffffffffu, s.phi_sum, mask);
  o.pmin = __shfl_xor_sync(0xffffffffu, s.pmin, mask);
  o.pmax = __shfl_xor_sync(0xffffffffu, s.pmax, mask);
  o.tmin = __shfl_xor_sync(0xffffffffu, s.tmin, mask);
  o.tmax = __shfl_xor_sync(0xffffffffu, s.tmax, mask);
  o.imin = __shfl_xor_sync(0xffffffffu, s.imin, mask);
  o.imax = __shfl_xor_sync(0xffffffffu, s.imax, mask);
  return o;
}

// Butterfly reduction: every lane ends with the same, order-fixed result.
template <typename T>
__device__ __forceinline__ Stats<T> warp_combine(Stats<T> s) {
  for (int m = 16; m >= 1; m /= 2) s = combine(s, shuffle_xor(s, m));
  return s;
}

template <typename T, bool kWriteGrad>
__global__ void chunk_stats(const T* __restrict__ pred, const T* __restrict__ target, const T* __restrict__ grad,
                            T* __restrict__ gpred, Stats<T>* __restrict__ out, int64_t C, int64_t n, int64_t chunks,
                            T alpha) {
  const int64_t plane = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const int64_t begin = chunk * kChunk, end = begin + kChunk < n ? begin + kChunk : n;
  const T dmax = nps::saturation(alpha);
  const T scale = kWriteGrad ? grad[plane / C] / T(n) : T(0);
  const T* p = pred + plane * n;
  const T* t = target + plane * n;
  Stats<T> s = empty_stats<T>();
  for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) {
    const T pk = p[k], tk = t[k], d = tk - pk;
    if constexpr (kWriteGrad) {
      gpred[plane * n + k] = scale * nps::phi_grad_pred(d, alpha, dmax);
    } else {
      s.phi_sum += double(nps::phi(d, alpha, dmax));
    }
    // strict comparisons (a thread sees its elements in increasing order, so
    // it keeps the first occurrence); NaN is never an extreme
    if (pk < s.pmin) s.pmin = pk, s.imin = k;
    if (pk > s.pmax) s.pmax = pk, s.imax = k;
    s.tmin = tk < s.tmin ? tk : s.tmin;
    s.tmax = tk > s.tmax ? tk : s.tmax;
  }
  s = warp_combine(s);
  __shared__ Stats<T> warps[kThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < kThreads / 32 ? warps[threadIdx.x] : empty_stats<T>();
    s = warp_combine(s);
    if (threadIdx.x == 0) out[blockIdx.x] = s;
  }
}

// One warp per batch item: its C planes one after the other.
template <typename T>
__global__ void plane_stats(const Stats<T>* __restrict__ chunks_in, Stats<T>* __restrict__ planes_out,
                            T* __restrict__ loss, int64_t B, int64_t C, int64_t n, int64_t chunks) {
  const int64_t b = blockIdx.x;
  double sum = 0.0;
  for (int64_t c = 0; c < C; ++c) {
    const Stats<T>* cs = chunks_in + (b * C + c) * chunks;
    Stats<T> s = empty_stats<T>();
    for (int64_t k = threadIdx.x; k < chunks; k += 32) s = combine(s, cs[k]);
    s = warp_combine(s);
    if (threadIdx.x == 0) {
      planes_out[b * C + c] = s;
      sum += s.phi_sum / double(n) + fabs(double(s.tmin) - double(s.pmin)) + fabs(double(s.tmax) - double(s.pmax));
    }
  }
  if (loss != nullptr && threadIdx.x == 0) loss[b] = T(sum);
}

template <typename T>
__global__ void extreme_grads(const T* __restrict__ grad, const Stats<T>* __restrict__ planes_in,
                              T* __restrict__ gpred, int64_t planes, int64_t C, int64_t n) {
  MFIF_GRID_LOOP(plane, planes) {
    const Stats<T> s = planes_in[plane];
    const T gb = grad[plane / C];
    if (s.imin >= 0) gpred[plane * n + s.imin] += gb * nps::sign(s.pmin - s.tmin);
    if (s.imax >= 0) gpred[plane * n + s.imax] += gb * nps::sign(s.pmax - s.tmax);
  }
}

template <typename T>
struct Scratch {
  Stats<T>* chunks;
  Stats<T>* planes;
  Scratch(void* mem, int64_t planes_n, int64_t chunks_n)
      : chunks(static_cast<Stats<T>*>(mem)), planes(static_cast<Stats<T>*>(mem) + planes_n * chunks_n) {}
};

}  // namespace

int64_t nps_scratch_bytes(int64_t planes, int64_t n) {
  // Stats<double> is the larger of the two instantiations
  return (planes * ceil_div(n, kChunk) + planes) * int64_t(sizeof(Stats<double>));
}

template <typename T>
cudaError_t nps_loss_forward(const T* pred, const T* target, T* loss, void* scratch, int64_t B, int64_t C, int64_t n,
                             T alpha, cudaStream_t stream) {
  const int64_t chunks = ceil_div(n, kChunk);
  const Scratch<T> s(scratch, B * C, chunks);
  chunk_stats<T, false><<<unsigned(B * C * chunks), kThreads, 0, stream>>>(pred, target, nullptr, nullptr, s.chunks,
                                                                          C, n, chunks, alpha);
  plane_stats<T><<<unsigned(B), 32, 0, stream>>>(s.chunks, s.planes, loss, B, C, n, chunks);
  return last_launch_status();
}

template <typename T>
cudaError_t nps_loss_backward(const T* grad, const T* pred, const T* target, T* grad_pred, void* scratch, int64_t B,
                              int64_t C, int64_t n, T alpha, cudaStream_t stream) {
  const int64_t chunks = ceil_div(n, kChunk);
  const Scratch<T> s(scratch, B * C, chunks);
  chunk_stats<T, true><<<unsigned(B * C * chunks), kThreads, 0, stream>>>(pred, target, grad, grad_pred, s.chunks, C,
                                                                         n, chunks, alpha);
  plane_stats<T><<<unsigned(B), 32, 0, stream>>>(s.chunks, s.planes, nullptr, B, C, n, chunks);
  extreme_grads<T><<<grid_for(B * C, kThreads), kThreads, 0, stream>>>(grad, s.planes, grad_pred, B * C, C, n);
  return last_launch_status();
}

#define MFIF_INSTANTIATE(T)                                                                                     \
  template cudaError_t nps_loss_forward<T>(const T*, const T*, T*, void*, int64_t, int64_t, int64_t, T,         \
                                           cudaStream_t);                                                       \
  template cudaError_t nps_loss_backward<T>(const T*, const T*, const T*, T*, void*, int64_t, int64_t, int64_t, \
                                            T, cudaStream_t);
MFIF_INSTANTIATE(float)
MFIF_INSTANTIATE(double)
#undef MFIF_INSTANTIATE

}  // namespace mfif::cuda
