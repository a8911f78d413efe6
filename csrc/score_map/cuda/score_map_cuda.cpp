// Torch side of the CUDA score_map: argument checks, device guard, stream,
// the per-band GEMMs of the partial scores (at::mm, i.e. cuBLAS, as the CPU
// kernel does per band with its BLAS) and the launches of the band kernel.
// The bias is read on the device (no .item(): no host sync), so the op can be
// captured in a CUDA graph. The CPU kernel raises on NaN/Inf; here they give
// NaN scores instead (a check would need a host read).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>

#include "common/checks.h"
#include "common/cuda/torch_cuda.h"
#include "score_map/cuda/score_map_cuda.h"
#include "score_map/score_map_args.h"

namespace mfif::score_map_cuda {
namespace {

namespace sm = mfif::score_map;

// Partial-score values (k*k planes x band feature rows x w') per band: 128 MB
// in float32, so a 3840x2160 pair's scores need two bands; a map tile of
// mfif.methods.liu2017 (about 1 Mpx) needs one.
constexpr int64_t kBandValues = int64_t(1) << 25;

void check_inputs(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                  const std::optional<at::Tensor>& bias) {
  sm::check_args(fa, fb, weight, bias);
  sm::check_one_device(fa, fb, weight, bias);
  check_cuda(fa, "fa");
}

at::Tensor band_scores(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, bool slope) {
  const c10::cuda::CUDAGuard guard(fa.device());
  // the GEMMs below are internal: keep autograd (and its out= checks) out of them
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  const int64_t B = fa.size(0), C = fa.size(1), hf = fa.size(2), wf = fa.size(3), k = weight.size(2);
  const int64_t h = hf - k + 1, w = wf - k + 1, kk = k * k;
  const at::Tensor wd = sm::diff_weights(weight);
  const at::Tensor wa = wd.narrow(1, 0, C), wb = wd.narrow(1, C, C);
  const at::Tensor bias_c = bias.has_value() ? bias->contiguous() : at::Tensor();
  const int64_t band = std::clamp<int64_t>(kBandValues / (kk * wf) - (k - 1), 1, h);
  at::Tensor P = at::empty({kk, (band + k - 1) * wf}, fa.options());
  at::Tensor out = at::empty({B, h, w}, fa.options());
  const cudaStream_t stream = current_stream(fa);
  AT_DISPATCH_FLOATING_TYPES(fa.scalar_type(), "mfif::score_map (CUDA)", [&] {
    const scalar_t* bp = bias_c.defined() ? bias_c.const_data_ptr<scalar_t>() : nullptr;
    for (int64_t b = 0; b < B; ++b) {
      const at::Tensor xa = sm::feature_matrix(fa[b]), xb = sm::feature_matrix(fb[b]);
      for (int64_t i0 = 0; i0 < h; i0 += band) {
        const int64_t i1 = std::min(h, i0 + band), cols = (i1 - i0 + k - 1) * wf;
        at::Tensor Pb = P.narrow(1, 0, cols);
        at::mm_out(Pb, wa, xa.narrow(1, i0 * wf, cols));
        Pb.addmm_(wb, xb.narrow(1, i0 * wf, cols));
        // P is reused by the next band: same stream, so the kernel has read it before the next GEMM writes
        check_launch(cuda::score_map_band<scalar_t>(Pb.const_data_ptr<scalar_t>(), Pb.stride(0), wf, k, bp,
                                                    out.mutable_data_ptr<scalar_t>() + (b * h + i0) * w, i1 - i0,
                                                    w, slope, stream),
                     slope ? "_score_map_slope" : "score_map");
      }
    }
  });
  return out;
}

at::Tensor score_map(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                     const std::optional<at::Tensor>& bias, int64_t height, int64_t width, int64_t patch,
                     int64_t stride) {
  check_inputs(fa, fb, weight, bias);
  sm::check_size_args(height, width);
  at::Tensor probs = band_scores(fa, fb, weight, bias, false);
  if (height == 0) return probs;
  static const auto patch_mean = c10::Dispatcher::singleton()
                                     .findSchemaOrThrow("mfif::patch_mean", "")
                                     .typed<at::Tensor(const at::Tensor&, int64_t, int64_t, int64_t, int64_t)>();
  return patch_mean.call(probs, height, width, patch, stride);
}

at::Tensor score_map_slope(const at::Tensor& fa, const at::Tensor& fb, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias) {
  check_inputs(fa, fb, weight, bias);
  return band_scores(fa, fb, weight, bias, true);
}

}  // namespace
}  // namespace mfif::score_map_cuda

TORCH_LIBRARY_IMPL(mfif, CUDA, m) {
  m.impl("score_map", &mfif::score_map_cuda::score_map);
  m.impl("_score_map_slope", &mfif::score_map_cuda::score_map_slope);
}
