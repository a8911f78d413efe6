// Streaming box sums over several channels at once, the engine behind
// box_filter and guided_filter on the CPU. Torch-free: raw pointers only.
//
// For the output rows [y0, y1) of an H x W image it keeps, per channel, the
// vertical window sum of every column (`colsum`, updated by adding the row
// entering the window and subtracting the row leaving it, vectorised across
// x), then turns each row of column sums into window sums with a running sum
// along x. Window: rows [y-ry, y+ry] and columns [x-rx, x+rx], cut at the
// image border (He's border rule). Everything is accumulated in double, so
// products such as I*I can be summed and differenced without cancellation.
//
// A Source provides the channel values; it is never materialised as planes:
//   int channels() const;
//   void update(int y_add, int y_sub, const double* prev, double* cur, int stride) const;
//     cur[k*stride + x] = prev[k*stride + x] + v_k(y_add, x) - v_k(y_sub, x)
//     for x in [0, W), where y_add or y_sub is -1 when that row is outside
//     the image; prev may be cur.
// A Sink consumes the box sums of one output row:
//   void operator()(int y, const double* box, int stride, double inv_ny) const;
//     box[k*stride + x] is the window sum of channel k at (y, x);
//     inv_ny is 1 / (number of window rows inside the image at y).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace mfif {

// 1 / (number of window columns inside the image) for every x.
inline std::vector<double> inverse_window_counts(int64_t n, int64_t r) {
  std::vector<double> inv(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lo = std::max<int64_t>(0, i - r), hi = std::min<int64_t>(n - 1, i + r);
    inv[i] = 1.0 / double(hi - lo + 1);
  }
  return inv;
}

// Running sum along x of `count` rows at once (independent dependency chains
// keep the adder busy). `in` rows hold W values after a zero pad of rx+1
// on the left and rx on the right: in[j] points at the pad's start.
template <int N>
inline void running_sums(const double* const* in, double* const* out, int64_t W, int64_t rx) {
  // The window of x is padded [x+1, x+2rx+1]; start from x = -1, window [0, 2rx].
  double acc[N];
  for (int j = 0; j < N; ++j) {
    double s = 0;
    for (int64_t t = 0; t <= 2 * rx; ++t) s += in[j][t];
    acc[j] = s;
  }
  for (int64_t x = 0; x < W; ++x) {
    for (int j = 0; j < N; ++j) {
      acc[j] += in[j][x + 2 * rx + 1] - in[j][x];
      out[j][x] = acc[j];
    }
  }
}

// Box sums for output rows [y0, y1) of an H x W image, channels from `src`,
// results handed row by row to `sink`. Returns false when a NaN or Inf went
// into the sums: once in a running sum it never leaves (Inf - Inf is NaN),
// so checking the column sums at the end detects non-finite input for free.
template <typename Source, typename Sink>
bool box_sum_rows(const Source& src, const Sink& sink, int64_t H, int64_t W, int64_t ry, int64_t rx,
                  int64_t y0, int64_t y1) {
  if (y0 >= y1) return true;
  ry = std::min(ry, H - 1);  // a larger window covers the same pixels
  rx = std::min(rx, W - 1);
  const int K = src.channels();
  const int64_t pad_l = rx + 1, stride_p = W + 2 * rx + 1;
  // Few channels: step G output rows at a time so that the running sums
  // along x have at least 4 independent dependency chains.
  const int G = K >= 4 ? 1 : (K == 1 ? 4 : 2);
  // G slots of K zero-padded rows of column sums, used as a ring: slot g is
  // computed from slot g-1, so no separate copy of the column sums is made.
  std::vector<double> slots(size_t(G) * K * stride_p, 0.0);  // pads stay zero
  std::vector<double> box(size_t(G) * K * W);
  auto slot = [&](int g) { return slots.data() + size_t(g) * K * stride_p + pad_l; };

  // The last slot starts with the column sums of row y0-1: image rows
  // [y0-1-ry, y0-1+ry].
  for (int64_t y = std::max<int64_t>(0, y0 - 1 - ry); y <= std::min<int64_t>(H - 1, y0 - 1 + ry); ++y)
    src.update(int(y), -1, slot(G - 1), slot(G - 1), int(stride_p));

  std::vector<const double*> in(size_t(G) * K);
  std::vector<double*> out(size_t(G) * K);
  for (int64_t y = y0; y < y1; y += G) {
    const int g_n = int(std::min<int64_t>(G, y1 - y));
    for (int g = 0; g < g_n; ++g) {
      const int64_t ya = y + g + ry, ys = y + g - ry - 1;
      src.update(ya < H ? int(ya) : -1, ys >= 0 ? int(ys) : -1, slot((g + G - 1) % G), slot(g),
                 int(stride_p));
    }
    const int J = g_n * K;
    for (int j = 0; j < J; ++j) {
      in[j] = slots.data() + size_t(j) * stride_p;
      out[j] = box.data() + size_t(j) * W;
    }
    int j = 0;
    for (; j + 4 <= J; j += 4) running_sums<4>(&in[j], &out[j], W, rx);
    for (; j + 2 <= J; j += 2) running_sums<2>(&in[j], &out[j], W, rx);
    for (; j < J; ++j) running_sums<1>(&in[j], &out[j], W, rx);
    for (int g = 0; g < g_n; ++g) {
      const int64_t yy = y + g;
      const int64_t rows = std::min<int64_t>(H - 1, yy + ry) - std::max<int64_t>(0, yy - ry) + 1;
      sink(int(yy), box.data() + size_t(g) * K * W, int(W), 1.0 / double(rows));
    }
  }
  bool finite = true;
  for (double v : slots) finite &= std::isfinite(v);
  return finite;
}

// Splits H rows into bands for parallel work: bands no thinner than needed to
// amortise each band's start-up (summing its first window).
inline int64_t band_rows(int64_t H, int64_t ry, int64_t planes, int64_t threads) {
  const int64_t min_rows = std::max<int64_t>(32, 4 * std::min(ry, H));
  const int64_t want_tasks = std::max<int64_t>(1, 2 * threads);
  if (planes >= want_tasks) return H;
  const int64_t bands = (want_tasks + planes - 1) / planes;
  return std::max(min_rows, (H + bands - 1) / bands);
}

}  // namespace mfif
