// CUDA kernels of box_filter and its backward on the two-pass engine of
// box_sum.cuh (horizontal running sums, then vertical ones with the output).
#include "box_filter/cuda/box_filter_cuda.h"
#include "box_filter/cuda/box_sum.cuh"

namespace mfif::cuda {
namespace {

// One plane; for the adjoint of the normalised filter every value is first
// divided by its window's pixel count (the transpose of "sum, then divide").
template <typename T>
struct PlaneSource {
  const T* x;
  int64_t H, W, ry, rx;
  bool scale;
  __device__ void operator()(int64_t plane, int64_t y, int64_t xx, double v[1]) const {
    double val = double(x[(plane * H + y) * W + xx]);
    if (scale) val = val * inverse_count(y, H, ry) * inverse_count(xx, W, rx);
    v[0] = val;
  }
};

template <typename T>
struct PlaneSink {
  T* out;
  int64_t H, W;
  bool normalize;
  __device__ void operator()(int64_t plane, int64_t y, int64_t x, const double box[1], double inv_ny,
                             double inv_nx) const {
    out[(plane * H + y) * W + x] = normalize ? T(box[0] * inv_ny * inv_nx) : T(box[0]);
  }
};

}  // namespace

template <typename T>
cudaError_t box_filter(const T* x, T* out, T* scratch, int64_t planes, int64_t H, int64_t W, int64_t radius,
                       bool normalize, bool adjoint, cudaStream_t stream) {
  const int64_t ry = radius < H - 1 ? radius : H - 1, rx = radius < W - 1 ? radius : W - 1;
  const PlaneSource<T> src{x, H, W, ry, rx, adjoint && normalize};
  const PlaneSink<T> sink{out, H, W, normalize && !adjoint};
  return box_sums<1>(src, sink, scratch, planes, H, W, radius, stream);
}

template cudaError_t box_filter<float>(const float*, float*, float*, int64_t, int64_t, int64_t, int64_t, bool, bool,
                                       cudaStream_t);
template cudaError_t box_filter<double>(const double*, double*, double*, int64_t, int64_t, int64_t, int64_t, bool,
                                        bool, cudaStream_t);

}  // namespace mfif::cuda
