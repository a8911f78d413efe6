// Torch side of mfif::_liu_fusion (CUDA only; on the CPU mfif.pipeline
// composes the same steps from the other ops).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cmath>
#include <tuple>

#include "common/checks.h"
#include "common/cuda/torch_cuda.h"
#include "liu_fusion/cuda/liu_fusion_cuda.h"

namespace mfif {
namespace {

std::tuple<at::Tensor, at::Tensor> liu_fusion_cuda(const at::Tensor& decision_in, const at::Tensor& a_in,
                                                   const at::Tensor& b_in, int64_t radius, double eps) {
  check_cuda(decision_in, "decision");
  check_cuda(a_in, "a");
  check_cuda(b_in, "b");
  check_same_cuda_device(a_in, "a", b_in, "b");
  check_same_cuda_device(a_in, "a", decision_in, "decision");
  TORCH_CHECK(decision_in.scalar_type() == at::kBool, "mfif: decision must be a bool tensor, got ",
              decision_in.scalar_type());
  check_float(a_in, "a");
  check_dim(a_in, 4, "a", "[B, 1 or 3, H, W]");
  check_nonempty(a_in, "a");
  TORCH_CHECK(a_in.size(1) == 1 || a_in.size(1) == 3, "mfif: a must have 1 or 3 channels, got ", a_in.size(1));
  TORCH_CHECK(b_in.sizes() == a_in.sizes() && b_in.scalar_type() == a_in.scalar_type(), "mfif: b ", b_in.sizes(),
              " ", b_in.scalar_type(), " must have the shape and dtype of a ", a_in.sizes(), " ",
              a_in.scalar_type());
  TORCH_CHECK(decision_in.dim() == 3 && decision_in.size(0) == a_in.size(0) && decision_in.size(1) == a_in.size(2) &&
                  decision_in.size(2) == a_in.size(3),
              "mfif: decision must have shape [B, H, W] of a ", a_in.sizes(), ", got ", decision_in.sizes());
  TORCH_CHECK(radius >= 0, "mfif: radius must be >= 0, got ", radius);
  TORCH_CHECK(std::isfinite(eps) && eps > 0, "mfif: eps must be finite and > 0, got ", eps);
  const c10::cuda::CUDAGuard guard(a_in.device());
  const at::Tensor d = decision_in.contiguous(), a = a_in.contiguous(), b = b_in.contiguous();
  const int64_t B = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3);
  radius = cap_radius(radius, H, W);
  at::Tensor fused = at::empty(a.sizes(), a.options());
  at::Tensor weights = at::empty({B, H, W}, a.options());
  at::Tensor scratch = at::empty({cuda::liu_fusion_scratch_bytes(B, H, W, int64_t(a.element_size()))},
                                 a.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "mfif::_liu_fusion (CUDA)", [&] {
    check_launch(cuda::liu_fusion<scalar_t>(reinterpret_cast<const uint8_t*>(d.const_data_ptr<bool>()),
                                            a.const_data_ptr<scalar_t>(), b.const_data_ptr<scalar_t>(),
                                            fused.mutable_data_ptr<scalar_t>(), weights.mutable_data_ptr<scalar_t>(),
                                            scratch.mutable_data_ptr(), B, C, H, W, radius, eps, current_stream(a)),
                 "_liu_fusion");
  });
  return {fused, weights};
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CUDA, m) { m.impl("_liu_fusion", &mfif::liu_fusion_cuda); }
