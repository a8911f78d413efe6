// Parallel loop over (plane, band of rows) tasks for the row-streaming kernels.
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace mfif {

// Calls body(plane, y0, y1) for every band of `band` rows of every plane, in
// parallel. Returns false if any call returned false.
template <typename Body>
bool parallel_bands(int64_t planes, int64_t H, int64_t band, const Body& body) {
  band = std::max<int64_t>(1, std::min(band, H));
  const int64_t bands = (H + band - 1) / band;
  std::atomic<bool> ok{true};
  at::parallel_for(0, planes * bands, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t p = t / bands, y0 = (t % bands) * band;
      if (!body(p, y0, std::min(H, y0 + band))) ok = false;
    }
  });
  return ok;
}

}  // namespace mfif
