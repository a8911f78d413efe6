// Torch side of the CUDA connected-component ops: checks, device guard,
// current stream, scratch from the caching allocator (capturable in a graph).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "ccl/cuda/ccl_cuda.h"
#include "ccl/ccl_args.h"
#include "common/checks.h"
#include "common/cuda/torch_cuda.h"

namespace mfif {
namespace {

void check_mask(const at::Tensor& mask) {
  check_cuda(mask, "mask");
  check_mask_layout(mask);
  TORCH_CHECK(mask.numel() < std::numeric_limits<int32_t>::max(), "mfif: a mask of ", mask.numel(),
              " pixels is too large for the CUDA kernel (at most 2^31 - 1 pixels per call); split the batch");
}

at::Tensor byte_scratch(size_t bytes, const at::Tensor& like) {
  return at::empty({int64_t(bytes)}, like.options().dtype(at::kByte));
}

at::Tensor connected_components_cuda(const at::Tensor& mask, int64_t connectivity) {
  check_mask(mask);
  check_connectivity(connectivity);
  at::Tensor out = at::empty(mask.sizes(), mask.options().dtype(at::kInt));
  if (mask.numel() == 0) return out;
  const c10::cuda::CUDAGuard guard(mask.device());
  const at::Tensor m = mask.contiguous();
  const int64_t B = mask.dim() == 3 ? mask.size(0) : 1, H = mask.size(-2), W = mask.size(-1);
  at::Tensor scratch = byte_scratch(cuda::ccl_label_scratch_bytes(m.numel()), m);
  check_launch(cuda::connected_components(reinterpret_cast<const uint8_t*>(m.const_data_ptr<bool>()),
                                          out.mutable_data_ptr<int32_t>(), scratch.mutable_data_ptr(), B, H, W,
                                          connectivity == 8 ? 1 : 0, current_stream(m)),
               "connected_components");
  return out;
}

at::Tensor remove_small_regions_cuda(const at::Tensor& mask, int64_t min_area, int64_t connectivity) {
  check_mask(mask);
  check_connectivity(connectivity);
  check_min_area(min_area);
  at::Tensor out = at::empty(mask.sizes(), mask.options());
  if (mask.numel() == 0) return out;
  if (min_area <= 1) return out.copy_(mask);  // no region has fewer than one pixel
  const c10::cuda::CUDAGuard guard(mask.device());
  const at::Tensor m = mask.contiguous();
  const int64_t B = mask.dim() == 3 ? mask.size(0) : 1, H = mask.size(-2), W = mask.size(-1);
  // No region has more than H*W pixels: clamping keeps the area in int32.
  const int32_t a = int32_t(std::min<int64_t>(min_area, H * W + 1));
  at::Tensor scratch = byte_scratch(cuda::ccl_filter_scratch_bytes(m.numel()), m);
  check_launch(cuda::remove_small_regions(reinterpret_cast<const uint8_t*>(m.const_data_ptr<bool>()),
                                          reinterpret_cast<uint8_t*>(out.mutable_data_ptr<bool>()),
                                          scratch.mutable_data_ptr(), B, H, W, a, connectivity == 8 ? 1 : 0,
                                          current_stream(m)),
               "remove_small_regions");
  return out;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CUDA, m) {
  m.impl("connected_components", &mfif::connected_components_cuda);
  m.impl("remove_small_regions", &mfif::remove_small_regions_cuda);
}
