// CPU kernels of box_filter and its backward: the torch side (the kernels are in
// box_filter_kernels.inc, the engine in box_sum.inc).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "common/checks.h"
#include "common/cpu_kernels.h"

namespace mfif {
namespace {

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
  bool finite = true;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mfif::box_filter", [&] {
    finite = MFIF_CPU_KERNEL(box_filter_planes<scalar_t>)(x.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
                                                          planes, H, W, radius, normalize, adjoint);
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
