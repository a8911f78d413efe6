// Argument checks of patch_mean shared by its CPU and CUDA registrations (the
// device check stays with each registration).
#pragma once
#include <algorithm>
#include <cmath>

#include "common/checks.h"

namespace mfif {

// scores: [B, h, w] probabilities or [B, 2, h, w] logits, float, not empty.
inline void check_scores_layout(const at::Tensor& scores) {
  check_float_or_half(scores, "scores");
  TORCH_CHECK(scores.dim() == 3 || (scores.dim() == 4 && scores.size(1) == 2),
              "mfif: scores must have shape [B, h, w] (probabilities) or [B, 2, h, w] (logits), got ",
              scores.sizes());
  check_nonempty(scores, "scores");
}

// n scores along a dimension of N pixels must cover every pixel exactly as
// Liu's layout does (windows at multiples of stride, cut at the border).
// Written so that no product can overflow, whatever patch and stride are.
inline void check_geometry(int64_t n, int64_t N, int64_t patch, int64_t stride, const char* score_dim,
                    const char* size_dim) {
  TORCH_CHECK(stride >= 1 && patch >= stride, "mfif: patch_mean needs patch >= stride >= 1, got patch=", patch,
              ", stride=", stride);
  TORCH_CHECK(N >= 1, "mfif: ", size_dim, " must be >= 1, got ", N);
  // (n - 1) * stride < N
  TORCH_CHECK(n - 1 <= (N - 1) / stride, "mfif: scores has ", n, " ", score_dim, " but with stride ", stride,
              " the last window would start outside ", size_dim, "=", N);
  // (n - 1) * stride + patch >= N; (n - 1) * stride < N here
  const int64_t last = (n - 1) * stride;
  TORCH_CHECK(patch >= N - last, "mfif: scores (", n, " ", score_dim, ", patch ", patch, ", stride ", stride,
              ") cover only ", last + patch, " pixels of ", size_dim, "=", N, "; pixels past that would have no score");
}

// Windows are cut at the image border, so a patch or stride beyond the
// larger side M = max(H, W) changes nothing: a stride >= M leaves one window
// per axis (check_geometry) and a patch >= M covers the rest of the image
// from any start. Capping both at M keeps every buffer sized by the image.
inline void cap_window(int64_t& patch, int64_t& stride, int64_t H, int64_t W) {
  const int64_t M = std::max(H, W);
  patch = std::min(patch, M);
  stride = std::min(stride, M);
}

}  // namespace mfif
