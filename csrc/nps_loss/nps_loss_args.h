// Argument checks of nps_loss shared by its CPU and CUDA registrations (the
// device check stays with each registration).
#pragma once
#include <cmath>

#include "common/checks.h"

namespace mfif {

// pred and target [B, C, H, W] of one shape and float dtype, not empty; alpha > 0.
inline void check_nps_args(const at::Tensor& pred, const at::Tensor& target, double alpha) {
  check_float_or_half(pred, "pred");
  check_float_or_half(target, "target");
  check_dim(pred, 4, "pred", "[B, C, H, W]");
  check_dim(target, 4, "target", "[B, C, H, W]");
  TORCH_CHECK(pred.sizes() == target.sizes(), "mfif: pred and target must have the same shape, got ",
              pred.sizes(), " and ", target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), "mfif: pred is ", pred.scalar_type(),
              " but target is ", target.scalar_type(), "; give both one dtype");
  check_nonempty(pred, "pred");
  TORCH_CHECK(std::isfinite(alpha) && alpha > 0, "mfif: alpha must be finite and > 0, got ", alpha);
}

// grad of the per-sample loss: float [B] for a pred of batch B.
inline void check_nps_grad(const at::Tensor& grad, const at::Tensor& pred) {
  check_float_or_half(grad, "grad");
  TORCH_CHECK(grad.dim() == 1 && grad.size(0) == pred.size(0),
              "mfif: grad must have shape [B] = [", pred.size(0), "], got ", grad.sizes());
}

}  // namespace mfif
