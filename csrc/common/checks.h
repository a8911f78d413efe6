// Argument checks shared by the CPU (and CUDA) registrations of the ops.
// The Python wrappers in mfif.ops check first with friendlier messages; these
// keep direct torch.ops.mfif.* calls from crashing on bad input.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <algorithm>

namespace mfif {

inline void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              "mfif: ", name, " must be float32 or float64, got ", t.scalar_type(),
              "; convert it with .float()");
}

// float16 and bfloat16 too: the ops compute those in float32 inside (see
// float32_inputs) and return the input's dtype.
inline bool is_half_float(const at::Tensor& t) {
  return t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
}

inline void check_float_or_half(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble || is_half_float(t),
              "mfif: ", name, " must be float32, float64, float16 or bfloat16, got ", t.scalar_type(),
              "; convert it with .float()");
}

// The float32 copy the kernels work on for a float16/bfloat16 tensor (the
// tensor itself otherwise).
inline at::Tensor float32_of(const at::Tensor& t) { return is_half_float(t) ? t.to(at::kFloat) : t; }

// A window radius at least the image size means "the whole image" under He's
// border rule; capping it keeps every index sum (y + r, 2r + 1) far from
// int64 overflow, whatever radius the caller gave.
inline int64_t cap_radius(int64_t radius, int64_t H, int64_t W) {
  return std::min(radius, std::max(H, W));
}

inline void check_dim(const at::Tensor& t, int64_t dim, const char* name, const char* layout) {
  TORCH_CHECK(t.dim() == dim, "mfif: ", name, " must have shape ", layout, ", got ", t.sizes());
}

inline void check_nonempty(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.numel() > 0, "mfif: ", name, " is empty (shape ", t.sizes(), ")");
}

inline void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "mfif: ", name, " is on ", t.device(),
              " but this op's kernel was called for the CPU");
}

}  // namespace mfif
