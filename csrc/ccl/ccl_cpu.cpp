// CPU kernels of mfif::connected_components and mfif::remove_small_regions:
// run-based union-find (csrc/ccl/ccl_kernels.h), parallel over batch items,
// or over horizontal bands of rows for a single image.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "ccl/ccl_kernels.h"
#include "ccl/ccl_args.h"
#include "common/checks.h"

namespace mfif {
namespace {

using ccl::idx_t;
using ccl::RunImage;

// Fewer rows than this per band are not worth a thread.
constexpr int64_t kMinBandRows = 32;

// Scratch memory of the calling thread, kept between calls: a fresh
// allocation of this size costs a page fault per 4 KiB touched, which is
// slower than the labelling itself. Kept only up to kKeepBytes of address
// space; only the pages a call used are resident.
constexpr int64_t kKeepBytes = int64_t{128} << 20;

struct Scratch {
  std::unique_ptr<idx_t[]> mem;
  int64_t entries = 0;

  idx_t* get(int64_t n) {
    if (n > entries) {
      mem.reset();  // free before allocating the larger block
      mem.reset(new idx_t[n]);
      entries = n;
    }
    return mem.get();
  }
  void trim() {
    if (entries * static_cast<int64_t>(sizeof(idx_t)) > kKeepBytes) {
      mem.reset();
      entries = 0;
    }
  }
};

thread_local Scratch tls_scratch;

// Buffers for one H x W image cut into `nbands` bands; reused across the
// items of a batch. Nothing is zero-initialised: every entry is written
// before it is read.
struct Workspace {
  RunImage im;
  std::vector<idx_t> band_y;     // [nbands + 1] first row of each band
  std::vector<idx_t> band_base;  // [nbands] first run index of each band
  int nbands;

  Workspace(int64_t H, int64_t W, int nb) : nbands(nb) {
    const int64_t cap = RunImage::band_capacity(H, W);
    // start, parent, area: cap each; row_beg, row_end: H each; first: H bytes.
    idx_t* mem = tls_scratch.get(3 * cap + 2 * H + (H + 3) / 4);
    im.H = static_cast<idx_t>(H);
    im.W = static_cast<idx_t>(W);
    im.start = mem;
    im.parent = mem + cap;
    im.area = mem + 2 * cap;
    im.row_beg = mem + 3 * cap;
    im.row_end = mem + 3 * cap + H;
    im.first = reinterpret_cast<uint8_t*>(mem + 3 * cap + 2 * H);
    band_y.resize(nb + 1);
    band_base.resize(nb);
    for (int b = 0; b <= nb; ++b) band_y[b] = static_cast<idx_t>(H * b / nb);
    for (int b = 0; b < nb; ++b)
      band_base[b] = static_cast<idx_t>(RunImage::band_capacity(band_y[b], W));
  }
  ~Workspace() { tls_scratch.trim(); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // f(b) for every band, the bands in parallel.
  template <typename F>
  void for_bands(const F& f) const {
    if (nbands == 1) {
      f(0);
      return;
    }
    at::parallel_for(0, nbands, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) f(static_cast<int>(b));
    });
  }
};

void label_image(Workspace& ws, const uint8_t* px, int32_t* out, idx_t k) {
  RunImage& im = ws.im;
  const auto& y = ws.band_y;
  ws.for_bands([&](int b) { ccl::label_band<false>(im, px, y[b], y[b + 1], ws.band_base[b], 1, k); });
  for (int b = 1; b < ws.nbands; ++b) ccl::merge_band_boundary<false>(im, y[b], 1, k);
  ccl::flatten_rows<true>(im, 0, im.H, 1, 0);
  ws.for_bands([&](int b) { ccl::write_labels(im, y[b], y[b + 1], 1, out); });
}

void filter_image(Workspace& ws, const uint8_t* px, uint8_t* out, idx_t min_area, idx_t k) {
  RunImage& im = ws.im;
  const auto& y = ws.band_y;
  // bwareaopen(D, a): components of ones and their areas ...
  ws.for_bands([&](int b) { ccl::label_band<true>(im, px, y[b], y[b + 1], ws.band_base[b], 1, k); });
  for (int b = 1; b < ws.nbands; ++b) ccl::merge_band_boundary<true>(im, y[b], 1, k);
  ccl::flatten_rows<false>(im, 0, im.H, 1, 0);
  // ... the runs of the image without the small ones ...
  ws.for_bands([&](int b) { ccl::compact_band(im, y[b], y[b + 1], ws.band_base[b], min_area); });
  // ... 1 - bwareaopen(1 - D, a): components of zeros of that image.
  ws.for_bands([&](int b) { ccl::relabel_band<true>(im, y[b], y[b + 1], 0, k); });
  for (int b = 1; b < ws.nbands; ++b) ccl::merge_band_boundary<true>(im, y[b], 0, k);
  ccl::flatten_rows<false>(im, 0, im.H, 0, 0);
  ws.for_bands([&](int b) { ccl::write_filled(im, y[b], y[b + 1], min_area, out); });
}

void check_mask(const at::Tensor& mask) {
  check_cpu(mask, "mask");
  check_mask_layout(mask);
}

// Calls fn(workspace, item) for every batch item: items in parallel when
// there are enough of them, otherwise one after the other, bands in parallel.
template <typename Fn>
void for_items(int64_t B, int64_t H, int64_t W, const Fn& fn) {
  TORCH_CHECK(RunImage::band_capacity(H, W) < std::numeric_limits<idx_t>::max(),
              "mfif: mask images of ", H, "x", W, " pixels are too large (at most about 2^31 pixels)");
  const int64_t threads = at::get_num_threads();
  if (B > 1 && B >= threads) {
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      Workspace ws(H, W, 1);
      for (int64_t b = b0; b < b1; ++b) fn(ws, b);
    });
    return;
  }
  const int nb = static_cast<int>(std::clamp<int64_t>(std::min(threads, H / kMinBandRows), 1, 1024));
  Workspace ws(H, W, nb);
  for (int64_t b = 0; b < B; ++b) fn(ws, b);
}

at::Tensor connected_components_cpu(const at::Tensor& mask, int64_t connectivity) {
  check_mask(mask);
  check_connectivity(connectivity);
  at::Tensor out = at::empty(mask.sizes(), mask.options().dtype(at::kInt));
  if (mask.numel() == 0) return out;
  const at::Tensor m = mask.contiguous();
  const int64_t B = mask.dim() == 3 ? mask.size(0) : 1;
  const int64_t H = mask.size(-2), W = mask.size(-1);
  const auto* px = reinterpret_cast<const uint8_t*>(m.data_ptr<bool>());
  int32_t* o = out.data_ptr<int32_t>();
  const idx_t k = connectivity == 8 ? 1 : 0;
  for_items(B, H, W, [&](Workspace& ws, int64_t b) { label_image(ws, px + b * H * W, o + b * H * W, k); });
  return out;
}

at::Tensor remove_small_regions_cpu(const at::Tensor& mask, int64_t min_area, int64_t connectivity) {
  check_mask(mask);
  check_connectivity(connectivity);
  check_min_area(min_area);
  at::Tensor out = at::empty(mask.sizes(), mask.options());
  if (mask.numel() == 0) return out;
  if (min_area <= 1) return out.copy_(mask);  // no region has fewer than one pixel
  const at::Tensor m = mask.contiguous();
  const int64_t B = mask.dim() == 3 ? mask.size(0) : 1;
  const int64_t H = mask.size(-2), W = mask.size(-1);
  // No region has more than H*W pixels: clamping keeps the area in idx_t.
  const idx_t a = static_cast<idx_t>(std::min<int64_t>(min_area, H * W + 1));
  const auto* px = reinterpret_cast<const uint8_t*>(m.data_ptr<bool>());
  auto* o = reinterpret_cast<uint8_t*>(out.data_ptr<bool>());
  const idx_t k = connectivity == 8 ? 1 : 0;
  for_items(B, H, W, [&](Workspace& ws, int64_t b) { filter_image(ws, px + b * H * W, o + b * H * W, a, k); });
  return out;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CPU, m) {
  m.impl("connected_components", &mfif::connected_components_cpu);
  m.impl("remove_small_regions", &mfif::remove_small_regions_cpu);
}
