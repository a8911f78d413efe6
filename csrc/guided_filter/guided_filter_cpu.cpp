// Torch side of the CPU guided filter (He, Sun, Tang 2013), gray or colour
// guide; the kernel is in guided_filter_kernels.inc.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "common/checks.h"
#include "common/cpu_kernels.h"
#include "guided_filter/guided_filter_args.h"

namespace mfif {
namespace {

at::Tensor guided_filter_cpu(const at::Tensor& guide_in, const at::Tensor& src_in, int64_t radius, double eps) {
  check_cpu(guide_in, "guide");
  check_cpu(src_in, "src");
  check_guided_filter_args(guide_in, src_in, radius, eps);
  if (is_half_float(src_in)) {
    return guided_filter_cpu(guide_in.to(at::kFloat), src_in.to(at::kFloat), radius, eps).to(src_in.scalar_type());
  }
  radius = cap_radius(radius, src_in.size(2), src_in.size(3));
  const at::Tensor guide = guide_in.contiguous(), src = src_in.contiguous();
  at::Tensor out = at::empty(src.sizes(), src.options());
  const int64_t B = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3);
  bool ok = true;
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "mfif::guided_filter", [&] {
    const scalar_t* g = guide.const_data_ptr<scalar_t>();
    const scalar_t* p = src.const_data_ptr<scalar_t>();
    scalar_t* q = out.mutable_data_ptr<scalar_t>();
    ok = guide.size(1) == 1 ? MFIF_CPU_KERNEL(guided_filter_kernel<scalar_t, 1>)(g, p, q, B, C, H, W, radius, eps)
                            : MFIF_CPU_KERNEL(guided_filter_kernel<scalar_t, 3>)(g, p, q, B, C, H, W, radius, eps);
  });
  TORCH_CHECK(ok, "mfif: guide or src contains NaN or Inf; clean them (e.g. torch.nan_to_num) first");
  return out;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CPU, m) { m.impl("guided_filter", &mfif::guided_filter_cpu); }
