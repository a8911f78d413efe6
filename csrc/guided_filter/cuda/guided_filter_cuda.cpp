// Torch side of the CUDA guided filter: checks, device guard, current stream,
// scratch from the caching allocator (capturable in a CUDA graph).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

#include "common/checks.h"
#include "guided_filter/guided_filter_args.h"
#include "common/cuda/torch_cuda.h"
#include "guided_filter/cuda/guided_filter_cuda.h"

namespace mfif {
namespace {

// Scratch above this is avoided by filtering the source planes in chunks.
constexpr int64_t kScratchBudget = int64_t{512} << 20;

at::Tensor guided_filter_cuda(const at::Tensor& guide_in, const at::Tensor& src_in, int64_t radius, double eps) {
  check_cuda(guide_in, "guide");
  check_cuda(src_in, "src");
  check_same_cuda_device(guide_in, "guide", src_in, "src");
  check_guided_filter_args(guide_in, src_in, radius, eps);
  const c10::cuda::CUDAGuard device_guard(src_in.device());
  if (is_half_float(src_in)) {
    return guided_filter_cuda(guide_in.to(at::kFloat), src_in.to(at::kFloat), radius, eps).to(src_in.scalar_type());
  }
  radius = cap_radius(radius, src_in.size(2), src_in.size(3));
  const at::Tensor guide = guide_in.contiguous(), src = src_in.contiguous();
  const int64_t B = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3), CG = guide.size(1);
  at::Tensor out = at::empty(src.sizes(), src.options());
  const int64_t elem = int64_t(src.element_size());
  const int64_t per_plane = cuda::guided_filter_scratch_bytes(CG, 1, H, W, elem);
  const int64_t chunk = std::clamp<int64_t>(kScratchBudget / per_plane, 1, B * C);
  at::Tensor scratch = at::empty({cuda::guided_filter_scratch_bytes(CG, chunk, H, W, elem)},
                                 src.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "mfif::guided_filter (CUDA)", [&] {
    check_launch(cuda::guided_filter<scalar_t>(guide.const_data_ptr<scalar_t>(), src.const_data_ptr<scalar_t>(),
                                               out.mutable_data_ptr<scalar_t>(), scratch.mutable_data_ptr(), B, CG,
                                               C, H, W, radius, eps, chunk, current_stream(src)),
                 "guided_filter");
  });
  return out;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CUDA, m) { m.impl("guided_filter", &mfif::guided_filter_cuda); }
