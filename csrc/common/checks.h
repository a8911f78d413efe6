// Argument checks shared by the CPU (and CUDA) registrations of the ops.
// The Python wrappers in mfif.ops check first with friendlier messages; these
// keep direct torch.ops.mfif.* calls from crashing on bad input.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace mfif {

inline void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              "mfif: ", name, " must be float32 or float64, got ", t.scalar_type(),
              "; convert it with .float()");
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
