// Torch side of the CUDA NPS loss. The CPU kernel raises on NaN/Inf input;
// that would need a host read of device data here (a sync, which breaks
// CUDA-graph capture), so on CUDA such input gives a non-finite loss instead.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "common/checks.h"
#include "nps_loss/nps_loss_args.h"
#include "common/cuda/torch_cuda.h"
#include "nps_loss/cuda/nps_loss_cuda.h"

namespace mfif {
namespace {

void check_inputs(const at::Tensor& pred, const at::Tensor& target, double alpha) {
  check_nps_args(pred, target, alpha);
  check_cuda(pred, "pred");
  check_cuda(target, "target");
  check_same_cuda_device(pred, "pred", target, "target");
}

// alpha capped as in the CPU kernel (phi is already 1 for |d| > 1e-28 there)
template <typename T>
T alpha_as(double alpha) {
  return T(std::min(alpha, std::is_same_v<T, float> ? 1e30 : 1e300));
}

at::Tensor nps_loss_cuda(const at::Tensor& pred_in, const at::Tensor& target_in, double alpha) {
  check_inputs(pred_in, target_in, alpha);
  const c10::cuda::CUDAGuard guard(pred_in.device());
  if (is_half_float(pred_in)) {
    return nps_loss_cuda(pred_in.to(at::kFloat), target_in.to(at::kFloat), alpha).to(pred_in.scalar_type());
  }
  const at::Tensor pred = pred_in.contiguous(), target = target_in.contiguous();
  const int64_t B = pred.size(0), C = pred.size(1), n = pred.size(2) * pred.size(3);
  at::Tensor loss = at::empty({B}, pred.options());
  at::Tensor scratch = at::empty({cuda::nps_scratch_bytes(B * C, n)}, pred.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "mfif::nps_loss (CUDA)", [&] {
    check_launch(cuda::nps_loss_forward<scalar_t>(pred.const_data_ptr<scalar_t>(), target.const_data_ptr<scalar_t>(),
                                                  loss.mutable_data_ptr<scalar_t>(), scratch.mutable_data_ptr(), B, C,
                                                  n, alpha_as<scalar_t>(alpha), current_stream(pred)),
                 "nps_loss");
  });
  return loss;
}

at::Tensor nps_loss_backward_cuda(const at::Tensor& grad_in, const at::Tensor& pred_in, const at::Tensor& target_in,
                                  double alpha) {
  check_inputs(pred_in, target_in, alpha);
  check_nps_grad(grad_in, pred_in);
  check_cuda(grad_in, "grad");
  check_same_cuda_device(grad_in, "grad", pred_in, "pred");
  const c10::cuda::CUDAGuard guard(pred_in.device());
  if (is_half_float(pred_in)) {
    return nps_loss_backward_cuda(float32_of(grad_in), pred_in.to(at::kFloat), target_in.to(at::kFloat), alpha)
        .to(pred_in.scalar_type());
  }
  const at::Tensor pred = pred_in.contiguous(), target = target_in.contiguous();
  const at::Tensor grad = grad_in.to(pred.scalar_type()).contiguous();
  const int64_t B = pred.size(0), C = pred.size(1), n = pred.size(2) * pred.size(3);
  at::Tensor gpred = at::empty_like(pred);
  at::Tensor scratch = at::empty({cuda::nps_scratch_bytes(B * C, n)}, pred.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "mfif::_nps_loss_backward (CUDA)", [&] {
    check_launch(cuda::nps_loss_backward<scalar_t>(
                     grad.const_data_ptr<scalar_t>(), pred.const_data_ptr<scalar_t>(),
                     target.const_data_ptr<scalar_t>(), gpred.mutable_data_ptr<scalar_t>(),
                     scratch.mutable_data_ptr(), B, C, n, alpha_as<scalar_t>(alpha), current_stream(pred)),
                 "_nps_loss_backward");
  });
  return gpred;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CUDA, m) {
  m.impl("nps_loss", &mfif::nps_loss_cuda);
  m.impl("_nps_loss_backward", &mfif::nps_loss_backward_cuda);
}
