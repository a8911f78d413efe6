// Torch side of the CUDA box filter: checks, device guard, current stream,
// scratch from the caching allocator (so the op can be captured in a graph).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "box_filter/cuda/box_filter_cuda.h"
#include "common/checks.h"
#include "common/cuda/torch_cuda.h"

namespace mfif {
namespace {

at::Tensor box_filter_cuda_impl(const at::Tensor& input, int64_t radius, bool normalize, bool adjoint,
                                const char* name) {
  check_cuda(input, name);
  check_float_or_half(input, name);
  TORCH_CHECK(input.dim() >= 2, "mfif: ", name, " must have shape [..., H, W], got ", input.sizes());
  check_nonempty(input, name);
  TORCH_CHECK(radius >= 0, "mfif: radius must be >= 0, got ", radius);
  const c10::cuda::CUDAGuard guard(input.device());
  if (is_half_float(input)) {
    return box_filter_cuda_impl(input.to(at::kFloat), radius, normalize, adjoint, name).to(input.scalar_type());
  }
  const at::Tensor x = input.contiguous();
  const int64_t H = x.size(-2), W = x.size(-1), planes = x.numel() / (H * W);
  radius = cap_radius(radius, H, W);
  at::Tensor out = at::empty_like(x);
  at::Tensor scratch = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mfif::box_filter (CUDA)", [&] {
    check_launch(cuda::box_filter<scalar_t>(x.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
                                            scratch.mutable_data_ptr<scalar_t>(), planes, H, W, radius, normalize,
                                            adjoint, current_stream(x)),
                 "box_filter");
  });
  return out;
}

at::Tensor box_filter_cuda(const at::Tensor& x, int64_t radius, bool normalize) {
  return box_filter_cuda_impl(x, radius, normalize, false, "x");
}

at::Tensor box_filter_backward_cuda(const at::Tensor& grad, int64_t radius, bool normalize) {
  return box_filter_cuda_impl(grad, radius, normalize, true, "grad");
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CUDA, m) {
  m.impl("box_filter", &mfif::box_filter_cuda);
  m.impl("_box_filter_backward", &mfif::box_filter_backward_cuda);
}
