// CPU kernels of box_filter and its backward (see box_sum.h for the engine).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "box_filter/box_sum.h"
#include "common/checks.h"
#include "common/parallel.h"

namespace mfif {
namespace {

// One plane, values scaled by inv_ny(y) * inv_nx[x] when `scale` (the adjoint
// of the normalised filter is the window sum of the grad divided by counts).
template <typename T>
struct PlaneSource {
  const T* plane;
  int64_t W;
  const double* inv_nx;    // used when scale
  const double* inv_ny;    // used when scale
  const T* zeros;          // a row of W zeros for rows outside the image
  bool scale;
  int channels() const { return 1; }
  void update(int ya, int ys, const double* prev, double* cur, int64_t, int64_t c0, int64_t c1) const {
    const T* __restrict a = ya >= 0 ? plane + int64_t(ya) * W : zeros;
    const T* __restrict s = ys >= 0 ? plane + int64_t(ys) * W : zeros;
    if (!scale) {
      for (int64_t x = c0; x < c1; ++x) cur[x] = prev[x] + (double(a[x]) - double(s[x]));
    } else {
      const double fa = ya >= 0 ? inv_ny[ya] : 0.0, fs = ys >= 0 ? inv_ny[ys] : 0.0;
      for (int64_t x = c0; x < c1; ++x) cur[x] = prev[x] + (double(a[x]) * fa - double(s[x]) * fs) * inv_nx[x];
    }
  }
};

template <typename T>
struct PlaneSink {
  T* plane;
  int64_t W;
  const double* inv_nx;
  bool normalize;
  void operator()(int y, const double* __restrict box, int64_t, double inv_ny, int64_t x0, int64_t x1) const {
    T* __restrict out = plane + int64_t(y) * W;
    if (normalize) {
      for (int64_t x = x0; x < x1; ++x) out[x] = T(box[x] * inv_ny * inv_nx[x]);
    } else {
      for (int64_t x = x0; x < x1; ++x) out[x] = T(box[x]);
    }
  }
};

void check_box_args(const at::Tensor& x, int64_t radius, const char* name) {
  check_cpu(x, name);
  check_float_or_half(x, name);
  TORCH_CHECK(x.dim() >= 2, "mfif: ", name, " must have shape [..., H, W], got ", x.sizes());
  check_nonempty(x, name);
  TORCH_CHECK(radius >= 0, "mfif: radius must be >= 0, got ", radius);
}

// adjoint=false: box_filter(x); adjoint=true: its transpose applied to x.
at::Tensor box_filter_impl(const at::Tensor& input, int64_t radius, bool normalize, bool adjoint,
                           const char* name) {
  check_box_args(input, radius, name);
  if (is_half_float(input)) {
    return box_filter_impl(input.to(at::kFloat), radius, normalize, adjoint, name).to(input.scalar_type());
  }
  const at::Tensor x = input.contiguous();
  const int64_t H = x.size(-2), W = x.size(-1), planes = x.numel() / (H * W);
  radius = cap_radius(radius, H, W);
  at::Tensor out = at::empty_like(x);
  const std::vector<double> inv_nx = inverse_window_counts(W, radius);
  const std::vector<double> inv_ny = inverse_window_counts(H, radius);
  const int64_t band = band_rows(H, radius);
  bool finite = true;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mfif::box_filter", [&] {
    const std::vector<scalar_t> zeros(W, scalar_t(0));
    const scalar_t* in = x.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    finite = parallel_bands(planes, H, band, [&](int64_t p, int64_t y0, int64_t y1) {
      PlaneSource<scalar_t> src{in + p * H * W, W, inv_nx.data(), inv_ny.data(), zeros.data(),
                                adjoint && normalize};
      PlaneSink<scalar_t> sink{o + p * H * W, W, inv_nx.data(), normalize && !adjoint};
      return box_sum_rows(src, sink, H, W, radius, radius, y0, y1);
    });
  });
  TORCH_CHECK(finite, "mfif: ", name, " contains NaN or Inf; box filtering it would spread them ",
              "along whole rows and columns. Clean the input (e.g. torch.nan_to_num) first.");
  return out;
}

at::Tensor box_filter_cpu(const at::Tensor& x, int64_t radius, bool normalize) {
  return box_filter_impl(x, radius, normalize, false, "x");
}

at::Tensor box_filter_backward_cpu(const at::Tensor& grad, int64_t radius, bool normalize) {
  return box_filter_impl(grad, radius, normalize, true, "grad");
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CPU, m) {
  m.impl("box_filter", &mfif::box_filter_cpu);
  m.impl("_box_filter_backward", &mfif::box_filter_backward_cpu);
}
