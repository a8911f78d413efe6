// Torch side of the CUDA patch_mean kernels. The CPU kernel raises on NaN/Inf
// scores; doing that here would need a host read of device data (a sync that
// breaks CUDA-graph capture), so on CUDA non-finite scores give NaN instead.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "common/checks.h"
#include "patch_mean/patch_mean_args.h"
#include "common/cuda/torch_cuda.h"
#include "patch_mean/cuda/patch_mean_cuda.h"

namespace mfif {
namespace {

void check_scores(const at::Tensor& scores) {
  check_scores_layout(scores);
  check_cuda(scores, "scores");
}

at::Tensor patch_mean_cuda(const at::Tensor& scores_in, int64_t height, int64_t width, int64_t patch,
                           int64_t stride) {
  check_scores(scores_in);
  const int64_t B = scores_in.size(0), h = scores_in.size(-2), w = scores_in.size(-1);
  check_geometry(h, height, patch, stride, "rows", "height");
  check_geometry(w, width, patch, stride, "columns", "width");
  const c10::cuda::CUDAGuard guard(scores_in.device());
  if (is_half_float(scores_in)) {
    return patch_mean_cuda(scores_in.to(at::kFloat), height, width, patch, stride).to(scores_in.scalar_type());
  }
  cap_window(patch, stride, height, width);
  const at::Tensor scores = scores_in.contiguous();
  at::Tensor out = at::empty({B, height, width}, scores.options());
  at::Tensor rows = at::empty({B, h, width}, scores.options());
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "mfif::patch_mean (CUDA)", [&] {
    check_launch(cuda::patch_mean_forward<scalar_t>(scores.const_data_ptr<scalar_t>(), scores.dim() == 4,
                                                    out.mutable_data_ptr<scalar_t>(),
                                                    rows.mutable_data_ptr<scalar_t>(), B, h, w, height, width, patch,
                                                    stride, current_stream(scores)),
                 "patch_mean");
  });
  return out;
}

at::Tensor patch_mean_backward_cuda(const at::Tensor& grad_in, const at::Tensor& scores_in, int64_t patch,
                                    int64_t stride) {
  check_scores(scores_in);
  check_float_or_half(grad_in, "grad");
  check_dim(grad_in, 3, "grad", "[B, H, W]");
  check_cuda(grad_in, "grad");
  check_same_cuda_device(grad_in, "grad", scores_in, "scores");
  const int64_t B = scores_in.size(0), h = scores_in.size(-2), w = scores_in.size(-1);
  TORCH_CHECK(grad_in.size(0) == B, "mfif: grad has batch ", grad_in.size(0), " but scores has ", B);
  const int64_t H = grad_in.size(1), W = grad_in.size(2);
  check_geometry(h, H, patch, stride, "rows", "height");
  check_geometry(w, W, patch, stride, "columns", "width");
  const c10::cuda::CUDAGuard guard(scores_in.device());
  if (is_half_float(scores_in)) {
    return patch_mean_backward_cuda(float32_of(grad_in), scores_in.to(at::kFloat), patch, stride)
        .to(scores_in.scalar_type());
  }
  cap_window(patch, stride, H, W);
  const at::Tensor scores = scores_in.contiguous();
  const at::Tensor grad = grad_in.to(scores.scalar_type()).contiguous();
  at::Tensor gs = at::empty(scores.sizes(), scores.options());
  at::Tensor cols = at::empty({B, H, w}, scores.options());
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "mfif::_patch_mean_backward (CUDA)", [&] {
    check_launch(cuda::patch_mean_backward<scalar_t>(grad.const_data_ptr<scalar_t>(),
                                                     scores.const_data_ptr<scalar_t>(), scores.dim() == 4,
                                                     gs.mutable_data_ptr<scalar_t>(),
                                                     cols.mutable_data_ptr<scalar_t>(), B, h, w, H, W, patch, stride,
                                                     current_stream(scores)),
                 "_patch_mean_backward");
  });
  return gs;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CUDA, m) {
  m.impl("patch_mean", &mfif::patch_mean_cuda);
  m.impl("_patch_mean_backward", &mfif::patch_mean_backward_cuda);
}
