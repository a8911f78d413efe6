// CUDA kernel of the guided filter (He, Sun, Tang 2013), gray or colour guide,
// on the two-pass window-sum engine of box_filter/cuda/box_sum.cuh.
//
// For every source plane (b, c), two box stages:
//   1. the box sums of I, I*I (or the 6 products I_i*I_j), p and I*p, computed
//      on the fly from guide and src (never stored as planes), go straight into
//      the per-pixel coefficients a and b (guided_math.h, shared with the CPU),
//      written once;
//   2. the box sums of a and b give q = mean(a) . I + mean(b).
// The window sums are kept in double like the CPU kernel, so eps = 1e-6 stays
// accurate on flat areas.
#include "box_filter/cuda/box_sum.cuh"
#include "guided_filter/cuda/guided_filter_cuda.h"
#include "guided_filter/guided_math.h"

namespace mfif::cuda {
namespace {

// Stage 1 channels. Gray: [I, I*I, p, I*p]; colour: [I_0..2, I_i*I_j (i<=j),
// p, I_0*p, I_1*p, I_2*p].
template <typename T, int CG>
struct StatsSource {
  static constexpr int K = CG == 1 ? 4 : 13;
  const T* guide;
  const T* src;
  int64_t C, H, W, plane0;
  __device__ void operator()(int64_t plane, int64_t y, int64_t x, double v[K]) const {
    const int64_t g = plane0 + plane, b = g / C, HW = H * W, at = y * W + x;
    const T* gi = guide + b * CG * HW + at;
    const double p = double(src[g * HW + at]);
    if constexpr (CG == 1) {
      const double i = double(gi[0]);
      v[0] = i;
      v[1] = i * i;
      v[2] = p;
      v[3] = i * p;
    } else {
      const double i0 = double(gi[0]), i1 = double(gi[HW]), i2 = double(gi[2 * HW]);
      v[0] = i0;
      v[1] = i1;
      v[2] = i2;
      v[3] = i0 * i0;
      v[4] = i0 * i1;
      v[5] = i0 * i2;
      v[6] = i1 * i1;
      v[7] = i1 * i2;
      v[8] = i2 * i2;
      v[9] = p;
      v[10] = i0 * p;
      v[11] = i1 * p;
      v[12] = i2 * p;
    }
  }
};

// Stage 1 sink: a (CG planes) and b of every pixel into ab[plane][CG + 1][H][W].
template <typename T, int CG>
struct CoefficientSink {
  static constexpr int K = CG == 1 ? 4 : 13;
  T* ab;
  int64_t H, W;
  double eps;
  __device__ void operator()(int64_t plane, int64_t y, int64_t x, const double box[K], double inv_ny,
                             double inv_nx) const {
    const double n = inv_ny * inv_nx;
    const int64_t HW = H * W;
    T* o = ab + plane * (CG + 1) * HW + y * W + x;
    if constexpr (CG == 1) {
      double a, b;
      gray_coefficients(box[0] * n, box[1] * n, box[2] * n, box[3] * n, eps, a, b);
      o[0] = T(a);
      o[HW] = T(b);
    } else {
      double mean_i[3], corr_ii[6], inv[6], corr_ip[3], a[3], b;
      for (int i = 0; i < 3; ++i) mean_i[i] = box[i] * n;
      for (int i = 0; i < 6; ++i) corr_ii[i] = box[3 + i] * n;
      color_inverse(mean_i, corr_ii, eps, inv);
      for (int i = 0; i < 3; ++i) corr_ip[i] = box[10 + i] * n;
      color_coefficients(mean_i, inv, box[9] * n, corr_ip, a, b);
      for (int i = 0; i < 3; ++i) o[i * HW] = T(a[i]);
      o[3 * HW] = T(b);
    }
  }
};

// Stage 2 channels: the planes of a and b as they are.
template <typename T, int CG>
struct CoefficientSource {
  const T* ab;
  int64_t H, W;
  __device__ void operator()(int64_t plane, int64_t y, int64_t x, double v[CG + 1]) const {
    const int64_t HW = H * W;
    const T* o = ab + plane * (CG + 1) * HW + y * W + x;
#pragma unroll
    for (int k = 0; k <= CG; ++k) v[k] = double(o[k * HW]);
  }
};

// Stage 2 sink: q = sum_i mean(a_i) I_i + mean(b), in the CPU kernel's order.
template <typename T, int CG>
struct OutputSink {
  const T* guide;
  T* out;
  int64_t C, H, W, plane0;
  __device__ void operator()(int64_t plane, int64_t y, int64_t x, const double box[CG + 1], double inv_ny,
                             double inv_nx) const {
    const int64_t g = plane0 + plane, b = g / C, HW = H * W, at = y * W + x;
    const T* gi = guide + b * CG * HW + at;
    double v = box[CG];
#pragma unroll
    for (int i = 0; i < CG; ++i) v += box[i] * double(gi[i * HW]);
    out[g * HW + at] = T(v * inv_ny * inv_nx);
  }
};

template <typename T, int CG>
cudaError_t run(const T* guide, const T* src, T* out, void* scratch, int64_t B, int64_t C, int64_t H, int64_t W,
                int64_t radius, double eps, int64_t chunk, cudaStream_t stream) {
  constexpr int K1 = StatsSource<T, CG>::K;
  const int64_t planes = B * C, HW = H * W;
  double* hs = static_cast<double*>(scratch);              // chunk * K1 * HW (reused by stage 2)
  T* ab = reinterpret_cast<T*>(hs + chunk * K1 * HW);       // chunk * (CG + 1) * HW
  for (int64_t p0 = 0; p0 < planes; p0 += chunk) {
    const int64_t n = planes - p0 < chunk ? planes - p0 : chunk;
    const StatsSource<T, CG> stats{guide, src, C, H, W, p0};
    const CoefficientSink<T, CG> coef{ab, H, W, eps};
    cudaError_t err = box_sums<K1>(stats, coef, hs, n, H, W, radius, stream);
    if (err != cudaSuccess) return err;
    const CoefficientSource<T, CG> coefs{ab, H, W};
    const OutputSink<T, CG> output{guide, out, C, H, W, p0};
    err = box_sums<CG + 1>(coefs, output, hs, n, H, W, radius, stream);
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

}  // namespace

int64_t guided_filter_scratch_bytes(int64_t guide_channels, int64_t chunk, int64_t H, int64_t W,
                                    int64_t element_size) {
  const int64_t k1 = guide_channels == 1 ? 4 : 13;
  return chunk * H * W * (k1 * int64_t(sizeof(double)) + (guide_channels + 1) * element_size);
}

template <typename T>
cudaError_t guided_filter(const T* guide, const T* src, T* out, void* scratch, int64_t B, int64_t CG, int64_t C,
                          int64_t H, int64_t W, int64_t radius, double eps, int64_t chunk, cudaStream_t stream) {
  return CG == 1 ? run<T, 1>(guide, src, out, scratch, B, C, H, W, radius, eps, chunk, stream)
                 : run<T, 3>(guide, src, out, scratch, B, C, H, W, radius, eps, chunk, stream);
}

template cudaError_t guided_filter<float>(const float*, const float*, float*, void*, int64_t, int64_t, int64_t,
                                          int64_t, int64_t, int64_t, double, int64_t, cudaStream_t);
template cudaError_t guided_filter<double>(const double*, const double*, double*, void*, int64_t, int64_t, int64_t,
                                           int64_t, int64_t, int64_t, double, int64_t, cudaStream_t);

}  // namespace mfif::cuda
