// Argument checks of guided_filter shared by its CPU and CUDA registrations (the
// device check stays with each registration).
#pragma once
#include <cmath>

#include "common/checks.h"

namespace mfif {

// guide [B, 1 or 3, H, W] and src [B, C, H, W] of one float dtype, radius >= 0, eps > 0.
inline void check_guided_filter_args(const at::Tensor& guide_in, const at::Tensor& src_in, int64_t radius,
                                     double eps) {
  check_float_or_half(guide_in, "guide");
  check_float_or_half(src_in, "src");
  check_dim(guide_in, 4, "guide", "[B, 1 or 3, H, W]");
  check_dim(src_in, 4, "src", "[B, C, H, W]");
  check_nonempty(src_in, "src");
  check_nonempty(guide_in, "guide");
  TORCH_CHECK(guide_in.size(1) == 1 || guide_in.size(1) == 3,
              "mfif: guide must have 1 or 3 channels, got ", guide_in.size(1));
  TORCH_CHECK(guide_in.size(0) == src_in.size(0) && guide_in.size(2) == src_in.size(2) &&
                  guide_in.size(3) == src_in.size(3),
              "mfif: guide ", guide_in.sizes(), " and src ", src_in.sizes(),
              " must have the same batch size, height and width");
  TORCH_CHECK(guide_in.scalar_type() == src_in.scalar_type(), "mfif: guide is ", guide_in.scalar_type(),
              " but src is ", src_in.scalar_type(), "; give both the same dtype");
  TORCH_CHECK(radius >= 0, "mfif: radius must be >= 0, got ", radius);
  TORCH_CHECK(std::isfinite(eps) && eps > 0, "mfif: eps must be finite and > 0, got ", eps);
}

}  // namespace mfif
