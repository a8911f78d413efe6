// CPU kernel of mfif::score_map: the folded dense head of Liu et al. 2017
// (8x8 convolution of the two branches' features to two logits), the softmax,
// and optionally the focus map (patch mean) in one op.
//
// Work is split into fixed bands of kBandRows score rows per image (so the
// result does not depend on the thread count). Per band, in parallel:
// (1) the partial scores of the band's feature rows (band + k - 1 rows) for the
//     k*k kernel offsets: two GEMMs, P = Wa Xa + Wb Xb ([k*k, 2C] weights of the
//     logit difference, split by branch, times the feature columns), with
//     at::mm on views of the features (NCHW or channels_last, no copies); inside
//     the parallel region the GEMM runs on one thread;
// (2) per score row, the shift-and-sum of the k*k offset rows, the bias and the
//     sigmoid (= two-class softmax), written once.
// The focus map then comes from mfif::patch_mean's own kernel (through the
// dispatcher): it reads the probability map once, well under 1% of the GEMM time.
// mfif::_score_map_slope runs the same bands with p (1 - p) in place of p (the
// backward's softmax slope, computed from the logit difference).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <vector>

#include "common/checks.h"
#include "score_map/score_map_args.h"
#include "score_map/score_map_kernels.h"

namespace mfif {
namespace {

namespace sm = score_map;

// Score rows per band: large enough for an efficient GEMM and a small share of
// recomputed halo rows (k - 1 per band), small enough to keep the band in cache.
constexpr int64_t kBandRows = 32;

void check_inputs(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias) {
  sm::check_args(fa, fb, weight, bias);
  sm::check_one_device(fa, fb, weight, bias);
  check_cpu(fa, "fa");
}

// Per score, the probability (kProb) or its slope p (1 - p) (kSlope) of the logit difference.
template <sm::Out kOut>
at::Tensor score_of_features(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                             const std::optional<at::Tensor>& bias) {
  const int64_t B = fa.size(0), C = fa.size(1), hf = fa.size(2), wf = fa.size(3), k = weight.size(2);
  const int64_t h = hf - k + 1, w = wf - k + 1, kk = k * k;
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  // [k*k, 2C] weights of the logit difference, row o = dy * k + dx
  const at::Tensor wd = sm::diff_weights(weight);
  const at::Tensor wa = wd.narrow(1, 0, C), wb = wd.narrow(1, C, C);
  at::Tensor out = at::empty({B, h, w}, fa.options());
  const int64_t bands = (h + kBandRows - 1) / kBandRows;
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(fa.scalar_type(), "mfif::score_map", [&] {
    const scalar_t bd = bias.has_value() ? (*bias)[0].item<scalar_t>() - (*bias)[1].item<scalar_t>() : scalar_t(0);
    std::vector<at::Tensor> xa(B), xb(B);
    for (int64_t b = 0; b < B; ++b) {
      xa[b] = sm::feature_matrix(fa[b]);
      xb[b] = sm::feature_matrix(fb[b]);
    }
    // bands per task: enough multiply-adds (~2^21) that small maps run on one thread
    const int64_t band_macs = kk * 2 * C * (std::min(kBandRows, h) + k - 1) * wf;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 21) / std::max<int64_t>(1, band_macs));
    at::parallel_for(0, B * bands, grain, [&](int64_t begin, int64_t end) {
      // the GEMMs below are internal: keep autograd (and its out= checks) out of them
      at::AutoDispatchBelowADInplaceOrView below_autograd;
      const int64_t max_rows = std::min(kBandRows, h) + k - 1;
      at::Tensor P = at::empty({kk, max_rows * wf}, fa.options());
      std::vector<const scalar_t*> ptrs(kk);
      bool chunk_bad = false;
      for (int64_t u = begin; u < end; ++u) {
        const int64_t b = u / bands, i0 = (u % bands) * kBandRows, i1 = std::min(h, i0 + kBandRows);
        const int64_t rows = i1 - i0 + k - 1, cols = rows * wf;
        at::Tensor Pb = P.narrow(1, 0, cols);
        at::mm_out(Pb, wa, xa[b].narrow(1, i0 * wf, cols));
        Pb.addmm_(wb, xb[b].narrow(1, i0 * wf, cols));
        const scalar_t* p = Pb.const_data_ptr<scalar_t>();
        const int64_t plane = Pb.stride(0);
        scalar_t* o = out.mutable_data_ptr<scalar_t>() + b * h * w;
        for (int64_t i = i0; i < i1; ++i) {
          scalar_t* row = o + i * w;
          sm::shift_sum_row(p + (i - i0) * wf, plane, wf, k, w, ptrs.data(), row);
          chunk_bad = sm::diff_to_score<kOut>(row, bd, w) || chunk_bad;
        }
      }
      if (chunk_bad) bad.store(true, std::memory_order_relaxed);
    });
  });
  TORCH_CHECK(!bad.load(), "mfif: score_map: the features, weight or bias contain NaN or Inf");
  return out;
}

at::Tensor score_map_cpu(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, int64_t height, int64_t width, int64_t patch,
                         int64_t stride) {
  check_inputs(fa, fb, weight, bias);
  sm::check_size_args(height, width);
  at::Tensor probs = score_of_features<sm::Out::kProb>(fa, fb, weight, bias);
  if (height == 0) return probs;
  static const auto patch_mean = c10::Dispatcher::singleton()
                                     .findSchemaOrThrow("mfif::patch_mean", "")
                                     .typed<at::Tensor(const at::Tensor&, int64_t, int64_t, int64_t, int64_t)>();
  return patch_mean.call(probs, height, width, patch, stride);
}

at::Tensor score_map_slope_cpu(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias) {
  check_inputs(fa, fb, weight, bias);
  return score_of_features<sm::Out::kSlope>(fa, fb, weight, bias);
}

}  // namespace

TORCH_LIBRARY_IMPL(mfif, CPU, m) {
  m.impl("score_map", &score_map_cpu);
  m.impl("_score_map_slope", &score_map_slope_cpu);
}

}  // namespace mfif
