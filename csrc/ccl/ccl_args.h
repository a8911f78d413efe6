// Argument checks of the CCL ops shared by their CPU and CUDA registrations
// (the device check stays with each registration).
#pragma once
#include "common/checks.h"

namespace mfif {

// mask: bool [H, W] or [B, H, W].
inline void check_mask_layout(const at::Tensor& mask) {
  TORCH_CHECK(mask.scalar_type() == at::kBool, "mfif: mask must be a bool tensor, got ", mask.scalar_type(),
              "; convert it with mask.bool()");
  TORCH_CHECK(mask.dim() == 2 || mask.dim() == 3, "mfif: mask must have shape [H,W] or [B,H,W], got ",
              mask.sizes());
}

inline void check_connectivity(int64_t connectivity) {
  TORCH_CHECK(connectivity == 4 || connectivity == 8, "mfif: connectivity must be 4 or 8, got ", connectivity);
}

inline void check_min_area(int64_t min_area) {
  TORCH_CHECK(min_area >= 0, "mfif: min_area must be >= 0, got ", min_area);
}

}  // namespace mfif
