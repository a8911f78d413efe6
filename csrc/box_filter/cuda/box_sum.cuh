// Separable window sums on the GPU with He's border rule, the engine behind
// the CUDA box_filter and guided_filter. Torch-free (raw pointers).
//
// The window of pixel (y, x) is rows [y-ry, y+ry] x columns [x-rx, x+rx], cut
// at the image border. K channels, whose values a Source computes on the fly
// (so products such as I*p are never stored), are summed in two passes:
//   row_sums_kernel: one thread per (plane, row, segment of columns) keeps a
//     running sum along x of every channel (in double) and writes the
//     horizontal window sums to a scratch buffer hs[plane][k][y][x] of type S;
//   col_sums_kernel: one thread per (plane, band of rows, column) keeps running
//     sums of hs down the column (in double, adjacent threads read adjacent
//     columns: coalesced) and hands the K window sums of every pixel to a Sink.
// Segments and bands are long compared with the window (at least 4 radii), so
// starting a running sum costs little. Every thread adds in an order that
// depends on the sizes only: the results are the same on every run and GPU.
//
// Source: K channels, __device__ void operator()(int64_t plane, int64_t y, int64_t x, double v[K]) const
// Sink:   __device__ void operator()(int64_t plane, int64_t y, int64_t x, const double box[K],
//                                    double inv_ny, double inv_nx) const
//   (inv_ny, inv_nx: 1 / the number of window rows, columns inside the image)
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda/launch.cuh"

namespace mfif::cuda {

// 1 / (number of indices of [i-r, i+r] inside [0, n)), r already <= n - 1.
__device__ __forceinline__ double inverse_count(int64_t i, int64_t n, int64_t r) {
  const int64_t lo = i - r < 0 ? 0 : i - r;
  const int64_t hi = i + r > n - 1 ? n - 1 : i + r;
  return 1.0 / double(hi - lo + 1);
}

// Length of the segments (bands) a thread sums along: long enough that the
// start-up window (2r+1 values) costs at most half the work of the segment.
inline int64_t run_length(int64_t n, int64_t r) {
  const int64_t len = 4 * r > 32 ? 4 * r : 32;
  return len < n ? len : n;
}

template <int K, typename S, typename Source>
__global__ void row_sums_kernel(Source src, S* __restrict__ hs, int64_t planes, int64_t H, int64_t W,
                                int64_t rx, int64_t seg, int64_t nseg) {
  MFIF_GRID_LOOP(t, planes * nseg * H) {
    // consecutive threads: consecutive rows of one segment (they read and
    // write at a stride of W, which the L1 cache absorbs along the walk)
    const int64_t y = t % H, s = (t / H) % nseg, plane = t / (H * nseg);
    const int64_t x0 = s * seg, x1 = x0 + seg < W ? x0 + seg : W;
    S* out = hs + plane * K * H * W + y * W;
    double acc[K], v[K];
#pragma unroll
    for (int k = 0; k < K; ++k) acc[k] = 0.0;
    const int64_t lo = x0 - rx < 0 ? 0 : x0 - rx, hi = x0 + rx < W ? x0 + rx : W - 1;
    for (int64_t x = lo; x <= hi; ++x) {
      src(plane, y, x, v);
#pragma unroll
      for (int k = 0; k < K; ++k) acc[k] += v[k];
    }
#pragma unroll
    for (int k = 0; k < K; ++k) out[k * H * W + x0] = S(acc[k]);
    for (int64_t x = x0 + 1; x < x1; ++x) {
      if (x + rx < W) {
        src(plane, y, x + rx, v);
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k] += v[k];
      }
      if (x - rx - 1 >= 0) {
        src(plane, y, x - rx - 1, v);
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k] -= v[k];
      }
#pragma unroll
      for (int k = 0; k < K; ++k) out[k * H * W + x] = S(acc[k]);
    }
  }
}

template <int K, typename S, typename Sink>
__global__ void col_sums_kernel(const S* __restrict__ hs, Sink sink, int64_t planes, int64_t H, int64_t W,
                                int64_t ry, int64_t rx, int64_t band, int64_t nband) {
  MFIF_GRID_LOOP(t, planes * nband * W) {
    const int64_t x = t % W, bnd = (t / W) % nband, plane = t / (W * nband);
    const int64_t y0 = bnd * band, y1 = y0 + band < H ? y0 + band : H;
    const S* col = hs + plane * K * H * W + x;
    const double inv_nx = inverse_count(x, W, rx);
    double acc[K];
#pragma unroll
    for (int k = 0; k < K; ++k) acc[k] = 0.0;
    const int64_t lo = y0 - ry < 0 ? 0 : y0 - ry, hi = y0 + ry < H ? y0 + ry : H - 1;
    for (int64_t y = lo; y <= hi; ++y) {
#pragma unroll
      for (int k = 0; k < K; ++k) acc[k] += double(col[(k * H + y) * W]);
    }
    sink(plane, y0, x, acc, inverse_count(y0, H, ry), inv_nx);
    for (int64_t y = y0 + 1; y < y1; ++y) {
      if (y + ry < H) {
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k] += double(col[(k * H + y + ry) * W]);
      }
      if (y - ry - 1 >= 0) {
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k] -= double(col[(k * H + y - ry - 1) * W]);
      }
      sink(plane, y, x, acc, inverse_count(y, H, ry), inv_nx);
    }
  }
}

// Both passes on `stream`; hs must hold planes * K * H * W values of S.
template <int K, typename S, typename Source, typename Sink>
cudaError_t box_sums(const Source& src, const Sink& sink, S* hs, int64_t planes, int64_t H, int64_t W,
                     int64_t radius, cudaStream_t stream) {
  const int64_t ry = radius < H - 1 ? radius : H - 1, rx = radius < W - 1 ? radius : W - 1;
  const int64_t seg = run_length(W, rx), nseg = ceil_div(W, seg);
  const int64_t band = run_length(H, ry), nband = ceil_div(H, band);
  constexpr int kThreads = 128;
  row_sums_kernel<K, S><<<grid_for(planes * nseg * H, kThreads), kThreads, 0, stream>>>(src, hs, planes, H, W, rx,
                                                                                      seg, nseg);
  col_sums_kernel<K, S><<<grid_for(planes * nband * W, kThreads), kThreads, 0, stream>>>(hs, sink, planes, H, W,
                                                                                       ry, rx, band, nband);
  return last_launch_status();
}

}  // namespace mfif::cuda
