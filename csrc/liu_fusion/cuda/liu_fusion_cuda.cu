// CUDA kernel of the fused last stage of Liu et al.'s post-processing: the
// initial fusion, its grey version (the guide), the guided filter of the
// decision map and the weighted fusion, on the two-pass window-sum engine of
// box_filter/cuda/box_sum.cuh and the per-pixel math of guided_math.h. The
// guide and the decision map are recomputed from (d, a, b) wherever they are
// needed instead of being stored: the sources are read by the first box stage
// and by the output, and nothing image-sized but the coefficients a, b and the
// results is written.
#include "box_filter/cuda/box_sum.cuh"
#include "guided_filter/guided_math.h"
#include "liu_fusion/cuda/liu_fusion_cuda.h"

namespace mfif::cuda {
namespace {

// MATLAB's rgb2gray weights, as mfif.pipeline.RGB_TO_GREY.
constexpr double kGreyR = 0.298936021293776, kGreyG = 0.587043074451121, kGreyB = 0.114020904255103;

template <typename T>
struct Images {
  const uint8_t* d;  // [B, H, W]
  const T* a;        // [B, C, H, W]
  const T* b;
  int64_t C, H, W;
  // Guide: grey of the initial fusion (d ? a : b), rounded to T as
  // mfif.pipeline.to_grey rounds it.
  __device__ T guide(int64_t n, int64_t y, int64_t x) const {
    const int64_t HW = H * W, at = y * W + x;
    const T* s = (d[n * HW + at] ? a : b) + n * C * HW + at;
    if (C == 1) return s[0];
    return T(T(s[0] * T(kGreyR)) + T(kGreyG) * s[HW]) + T(kGreyB) * s[2 * HW];
  }
  __device__ double decision(int64_t n, int64_t y, int64_t x) const { return d[(n * H + y) * W + x] ? 1.0 : 0.0; }
};

// Stage 1 channels: [I, I*I, p, I*p] with I the guide and p the decision map.
template <typename T>
struct StatsSource {
  Images<T> im;
  __device__ void operator()(int64_t n, int64_t y, int64_t x, double v[4]) const {
    const double i = double(im.guide(n, y, x)), p = im.decision(n, y, x);
    v[0] = i;
    v[1] = i * i;
    v[2] = p;
    v[3] = i * p;
  }
};

// Stage 1 sink: the coefficients a and b into ab[n][2][H][W].
template <typename T>
struct CoefficientSink {
  T* ab;
  int64_t H, W;
  double eps;
  __device__ void operator()(int64_t n, int64_t y, int64_t x, const double box[4], double inv_ny,
                             double inv_nx) const {
    const double m = inv_ny * inv_nx;
    double ca, cb;
    gray_coefficients(box[0] * m, box[1] * m, box[2] * m, box[3] * m, eps, ca, cb);
    T* o = ab + n * 2 * H * W + y * W + x;
    o[0] = T(ca);
    o[H * W] = T(cb);
  }
};

template <typename T>
struct CoefficientSource {
  const T* ab;
  int64_t H, W;
  __device__ void operator()(int64_t n, int64_t y, int64_t x, double v[2]) const {
    const T* o = ab + n * 2 * H * W + y * W + x;
    v[0] = double(o[0]);
    v[1] = double(o[H * W]);
  }
};

// Stage 2 sink: weights q = mean(a) I + mean(b), and fused = b + q (a - b).
template <typename T>
struct FusionSink {
  Images<T> im;
  T* fused;
  T* weights;
  __device__ void operator()(int64_t n, int64_t y, int64_t x, const double box[2], double inv_ny,
                             double inv_nx) const {
    const int64_t HW = im.H * im.W, at = y * im.W + x;
    const T q = T((box[1] + box[0] * double(im.guide(n, y, x))) * inv_ny * inv_nx);
    weights[n * HW + at] = q;
    for (int64_t c = 0; c < im.C; ++c) {
      const int64_t k = (n * im.C + c) * HW + at;
      fused[k] = im.b[k] + q * (im.a[k] - im.b[k]);
    }
  }
};

}  // namespace

int64_t liu_fusion_scratch_bytes(int64_t B, int64_t H, int64_t W, int64_t element_size) {
  return B * H * W * (4 * int64_t(sizeof(double)) + 2 * element_size);
}

template <typename T>
cudaError_t liu_fusion(const uint8_t* decision, const T* a, const T* b, T* fused, T* weights, void* scratch,
                       int64_t B, int64_t C, int64_t H, int64_t W, int64_t radius, double eps, cudaStream_t stream) {
  double* hs = static_cast<double*>(scratch);        // B * 4 * HW (stage 2 reuses 2 of the 4)
  T* ab = reinterpret_cast<T*>(hs + B * 4 * H * W);  // B * 2 * HW
  const Images<T> im{decision, a, b, C, H, W};
  cudaError_t err = box_sums<4>(StatsSource<T>{im}, CoefficientSink<T>{ab, H, W, eps}, hs, B, H, W, radius, stream);
  if (err != cudaSuccess) return err;
  return box_sums<2>(CoefficientSource<T>{ab, H, W}, FusionSink<T>{im, fused, weights}, hs, B, H, W, radius,
                     stream);
}

template cudaError_t liu_fusion<float>(const uint8_t*, const float*, const float*, float*, float*, void*, int64_t,
                                       int64_t, int64_t, int64_t, int64_t, double, cudaStream_t);
template cudaError_t liu_fusion<double>(const uint8_t*, const double*, const double*, double*, double*, void*,
                                        int64_t, int64_t, int64_t, int64_t, int64_t, double, cudaStream_t);

}  // namespace mfif::cuda
