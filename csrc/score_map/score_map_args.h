// Argument checks and GEMM operands of mfif::score_map shared by its CPU and
// CUDA registrations (the device checks stay with each registration).
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/ops/sub.h>

#include <optional>

#include "common/checks.h"

namespace mfif::score_map {

// fa, fb [B, C, h', w'], weight [2, 2C, k, k], bias [2] or None: one float dtype, the map at least k x k.
inline void check_args(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias) {
  check_float(fa, "fa");
  check_dim(fa, 4, "fa", "[B, C, h, w]");
  check_dim(fb, 4, "fb", "[B, C, h, w]");
  check_dim(weight, 4, "weight", "[2, 2C, k, k]");
  check_nonempty(fa, "fa");
  TORCH_CHECK(fb.sizes() == fa.sizes(), "mfif: fa and fb must have the same shape, got ", fa.sizes(), " and ",
              fb.sizes());
  TORCH_CHECK(fb.scalar_type() == fa.scalar_type() && weight.scalar_type() == fa.scalar_type(),
              "mfif: fa, fb and weight must have one dtype, got ", fa.scalar_type(), ", ", fb.scalar_type(), ", ",
              weight.scalar_type());
  const int64_t C = fa.size(1), k = weight.size(2);
  TORCH_CHECK(weight.size(0) == 2 && weight.size(1) == 2 * C && weight.size(3) == k && k >= 1,
              "mfif: weight must have shape [2, 2C, k, k] = [2, ", 2 * C, ", k, k] for features with C=", C,
              " channels, got ", weight.sizes());
  TORCH_CHECK(fa.size(2) >= k && fa.size(3) >= k, "mfif: features of ", fa.size(2), "x", fa.size(3),
              " are smaller than the ", k, "x", k, " kernel");
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == 2, "mfif: bias must have shape [2], got ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == fa.scalar_type(), "mfif: bias must have the dtype of fa (",
                fa.scalar_type(), "), got ", bias->scalar_type());
  }
}

// Every tensor argument on the device of fa (a raw call must not mix devices).
inline void check_one_device(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                             const std::optional<at::Tensor>& bias) {
  auto same = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(t.device() == fa.device(), "mfif: fa is on ", fa.device(), " but ", name, " is on ", t.device(),
                "; put all tensors on one device");
  };
  same(fb, "fb");
  same(weight, "weight");
  if (bias.has_value()) same(*bias, "bias");
}

inline void check_size_args(int64_t height, int64_t width) {
  TORCH_CHECK((height == 0) == (width == 0) && height >= 0 && width >= 0,
              "mfif: score_map needs height = width = 0 (probability map) or both >= 1 (focus map), got ", height,
              ", ", width);
}

// Image x [C, h, w] as a [C, h*w] matrix view (any strides BLAS accepts), contiguous copy otherwise.
inline at::Tensor feature_matrix(const at::Tensor& x) {
  const int64_t C = x.size(0), n = x.size(1) * x.size(2);
  const auto st = x.strides();
  if (st[2] == 1 && st[1] == x.size(2)) return x.as_strided({C, n}, {st[0], 1});                // NCHW
  if (st[0] == 1 && st[2] == C && st[1] == C * x.size(2)) return x.as_strided({C, n}, {1, C});  // channels_last
  return x.contiguous().view({C, n});
}

// [k*k, 2C] weights of the logit difference l0 - l1, row o = dy * k + dx.
inline at::Tensor diff_weights(const at::Tensor& weight) {
  const int64_t C2 = weight.size(1), kk = weight.size(2) * weight.size(3);
  return at::sub(weight.select(0, 0), weight.select(0, 1)).reshape({C2, kk}).t().contiguous();
}

}  // namespace mfif::score_map
