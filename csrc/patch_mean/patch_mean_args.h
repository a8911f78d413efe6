// Argument checks of patch_mean shared by its CPU and CUDA registrations (the
// device check stays with each registration).
#pragma once
#include <cmath>

#include "common/checks.h"

namespace mfif {

// scores: [B, h, w] probabilities or [B, 2, h, w] logits, float, not empty.
inline void check_scores_layout(const at::Tensor& scores) {
  check_float(scores, "scores");
  TORCH_CHECK(scores.dim() == 3 || (scores.dim() == 4 && scores.size(1) == 2),
              "mfif: scores must have shape [B, h, w] (probabilities) or [B, 2, h, w] (logits), got ",
              scores.sizes());
  check_nonempty(scores, "scores");
}

// n scores along a dimension of N pixels must cover every pixel exactly as
// Liu's layout does (windows at multiples of stride, cut at the border).
inline void check_geometry(int64_t n, int64_t N, int64_t patch, int64_t stride, const char* score_dim,
                    const char* size_dim) {
  TORCH_CHECK(stride >= 1 && patch >= stride, "mfif: patch_mean needs patch >= stride >= 1, got patch=", patch,
              ", stride=", stride);
  TORCH_CHECK(N >= 1, "mfif: ", size_dim, " must be >= 1, got ", N);
  TORCH_CHECK((n - 1) * stride < N, "mfif: scores has ", n, " ", score_dim, " but with stride ", stride,
              " the last window would start at pixel ", (n - 1) * stride, ", outside ", size_dim, "=", N);
  TORCH_CHECK((n - 1) * stride + patch >= N, "mfif: scores (", n, " ", score_dim, ", patch ", patch, ", stride ",
              stride, ") cover only ", (n - 1) * stride + patch, " pixels of ", size_dim, "=", N,
              "; pixels past that would have no score");
}

}  // namespace mfif
