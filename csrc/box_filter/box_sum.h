// Streaming box sums over several channels at once, the engine behind
// box_filter and guided_filter on the CPU. Torch-free: raw pointers only.
//
// For output rows [y0, y1) and output columns [x0, x1) (a strip, so that the
// working set stays in L1/L2) it keeps, per channel, the vertical window sum
// of every column (updated by adding the row entering the window and
// subtracting the row leaving it, vectorised across x), then turns each row
// of column sums into window sums with a running sum along x. Window: rows
// [y-ry, y+ry] and columns [x-rx, x+rx], cut at the image border (He's border
// rule). Everything is accumulated in double, so products such as I*I can be
// summed and differenced without cancellation.
//
// All row pointers below are indexed by absolute image column x.
// A Source provides the channel values; it is never materialised as planes:
//   int channels() const;
//   void update(int y_add, int y_sub, const double* prev, double* cur, int64_t stride,
//               int64_t c0, int64_t c1) const;
//     cur[k*stride + x] = prev[k*stride + x] + v_k(y_add, x) - v_k(y_sub, x)
//     for x in [c0, c1), where y_add or y_sub is -1 when that row is outside
//     the image; prev may be cur.
// A Sink consumes the box sums of one output row:
//   void operator()(int y, const double* box, int64_t stride, double inv_ny,
//                   int64_t x0, int64_t x1) const;
//     box[k*stride + x] is the window sum of channel k at (y, x), x in [x0, x1);
//     inv_ny is 1 / (number of window rows inside the image at y).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

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

#if defined(__AVX2__)
// Inclusive prefix sum of the four lanes of v: [v0, v0+v1, v0+v1+v2, v0+..+v3].
inline __m256d prefix_sum4(__m256d v) {
  const __m256d shifted1 = _mm256_blend_pd(_mm256_permute4x64_pd(v, _MM_SHUFFLE(2, 1, 0, 0)), _mm256_setzero_pd(), 0x1);
  v = _mm256_add_pd(v, shifted1);
  return _mm256_add_pd(v, _mm256_permute2f128_pd(v, v, 0x08));  // + [0, 0, lane0, lane1]
}
#endif

// Running sum along x of N rows at once (independent dependency chains keep
// the adder busy). in[j] holds the column sums of columns [x0-rx-1, x1+rx)
// (zero outside the image); out[j] receives the n = x1-x0 window sums.
// With AVX2 four outputs of a row come from one in-register prefix sum of
// their four increments, so the serial chain is one add per four outputs.
template <int N>
inline void running_sums(const double* const* in, double* const* out, int64_t n, int64_t rx) {
  // The window of output i is in[i+1 .. i+2rx+1]; start from i = -1: [0, 2rx].
  double acc[N];
  for (int j = 0; j < N; ++j) {
    double s = 0;
    for (int64_t t = 0; t <= 2 * rx; ++t) s += in[j][t];
    acc[j] = s;
  }
  int64_t i = 0;
#if defined(__AVX2__)
  __m256d accv[N];
  for (int j = 0; j < N; ++j) accv[j] = _mm256_set1_pd(acc[j]);
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < N; ++j) {
      const __m256d inc = _mm256_sub_pd(_mm256_loadu_pd(in[j] + i + 2 * rx + 1), _mm256_loadu_pd(in[j] + i));
      const __m256d o = _mm256_add_pd(prefix_sum4(inc), accv[j]);
      _mm256_storeu_pd(out[j] + i, o);
      accv[j] = _mm256_permute4x64_pd(o, _MM_SHUFFLE(3, 3, 3, 3));
    }
  }
  for (int j = 0; j < N; ++j) acc[j] = _mm256_cvtsd_f64(accv[j]);
#endif
  for (; i < n; ++i) {
    for (int j = 0; j < N; ++j) {
      acc[j] += in[j][i + 2 * rx + 1] - in[j][i];
      out[j][i] = acc[j];
    }
  }
}

// Box sums of consecutive output rows of one column strip, produced a few
// rows per step(), so that a consumer can interleave two streams (the guided
// filter feeds one stream's output rows to another through a ring buffer).
template <typename Source>
class BoxSumStream {
 public:
  // Prepares the stream to produce rows y0, y0+1, ... of columns [x0, x1).
  BoxSumStream(const Source& src, int64_t H, int64_t W, int64_t ry, int64_t rx, int64_t y0, int64_t x0,
               int64_t x1)
      : src_(src), H_(H), ry_(std::min(ry, H - 1)), rx_(std::min(rx, W - 1)), y_(y0), x0_(x0), x1_(x1),
        c0_(std::max<int64_t>(0, x0 - rx_)), c1_(std::min<int64_t>(W, x1 + rx_)),
        K_(src.channels()),
        // Few channels: step G rows at a time so that the running sums along
        // x have at least 4 independent dependency chains.
        G_(K_ >= 4 ? 1 : (K_ == 1 ? 4 : 2)),
        stride_p_(x1 - x0 + 2 * rx_ + 1), stride_b_(x1 - x0),
        // G slots of K zero-padded rows of column sums, used as a ring: slot
        // g is computed from slot g-1, so the column sums are never copied.
        slots_(size_t(G_) * K_ * stride_p_, 0.0),
        box_(size_t(G_) * K_ * stride_b_),
        in_(size_t(G_) * K_), out_(size_t(G_) * K_) {
    // The last slot starts as the column sums of row y0-1: image rows
    // [y0-1-ry, y0-1+ry].
    for (int64_t y = std::max<int64_t>(0, y0 - 1 - ry_); y <= std::min<int64_t>(H - 1, y0 - 1 + ry_); ++y)
      src_.update(int(y), -1, slot(G_ - 1), slot(G_ - 1), stride_p_, c0_, c1_);
  }

  int64_t next_row() const { return y_; }
  int64_t rows_per_step() const { return G_; }

  // Computes the box sums of rows [y, y + n), n = min(G, y_end - y); then
  // box(g) is row first()+g: channel k at box(g) + k*box_stride(), indexed by x.
  int step(int64_t y_end) {
    const int g_n = int(std::min<int64_t>(G_, y_end - y_));
    for (int g = 0; g < g_n; ++g) {
      const int64_t ya = y_ + g + ry_, ys = y_ + g - ry_ - 1;
      src_.update(ya < H_ ? int(ya) : -1, ys >= 0 ? int(ys) : -1, slot((g + G_ - 1) % G_), slot(g), stride_p_,
                  c0_, c1_);
    }
    const int J = g_n * K_;
    for (int j = 0; j < J; ++j) {
      in_[j] = slots_.data() + size_t(j) * stride_p_;
      out_[j] = box_.data() + size_t(j) * stride_b_;
    }
    int j = 0;
    for (; j + 4 <= J; j += 4) running_sums<4>(&in_[j], &out_[j], stride_b_, rx_);
    for (; j + 2 <= J; j += 2) running_sums<2>(&in_[j], &out_[j], stride_b_, rx_);
    for (; j < J; ++j) running_sums<1>(&in_[j], &out_[j], stride_b_, rx_);
    first_ = y_;
    y_ += g_n;
    return g_n;
  }

  const double* box(int g) const { return box_.data() + size_t(g) * K_ * stride_b_ - x0_; }
  int64_t box_stride() const { return stride_b_; }
  // 1 / number of window rows inside the image, for row first()+g
  double inv_ny(int g) const {
    const int64_t yy = first_ + g;
    return 1.0 / double(std::min<int64_t>(H_ - 1, yy + ry_) - std::max<int64_t>(0, yy - ry_) + 1);
  }
  int64_t first() const { return first_; }

  // Hands the rows of the last step to a sink.
  template <typename Sink>
  void emit(const Sink& sink, int n) const {
    for (int g = 0; g < n; ++g) sink(int(first_ + g), box(g), stride_b_, inv_ny(g), x0_, x1_);
  }

  // False when a NaN or Inf went into the sums: once in a running sum it
  // never leaves (Inf - Inf is NaN), so checking the column sums at the end
  // detects non-finite input for free.
  bool finite() const {
    bool ok = true;
    for (double v : slots_) ok &= std::isfinite(v);
    return ok;
  }

 private:
  // slot g's rows, indexed by absolute column (the buffer starts at x0-rx-1)
  double* slot(int g) { return slots_.data() + size_t(g) * K_ * stride_p_ - (x0_ - rx_ - 1); }

  const Source& src_;
  int64_t H_, ry_, rx_, y_, x0_, x1_, c0_, c1_, first_ = 0;
  int K_, G_;
  int64_t stride_p_, stride_b_;
  std::vector<double> slots_, box_;
  std::vector<const double*> in_;
  std::vector<double*> out_;
};

// Width of the column strips: the stream's buffers (about 2*G*K rows of
// doubles) should stay within ~1 MB (L2), but strips much narrower than the
// window would mostly recompute their halo. (Measured on a 2-core Xeon: at
// 1080p and 4K, narrower L1-sized strips gained nothing, so only very wide
// images or many channels are split.)
inline int64_t strip_width(int64_t W, int64_t rx, int channels) {
  const int G = channels >= 4 ? 1 : (channels == 1 ? 4 : 2);
  const int64_t fit = (int64_t(1) << 20) / (16 * int64_t(G) * channels);
  return std::min(W, std::max<int64_t>({fit, 8 * std::min(rx, W), 64}));
}

// Box sums for output rows [y0, y1), all columns, strip by strip, handed row
// by row to `sink`. Returns false when the input held NaN or Inf.
template <typename Source, typename Sink>
bool box_sum_rows(const Source& src, const Sink& sink, int64_t H, int64_t W, int64_t ry, int64_t rx,
                  int64_t y0, int64_t y1) {
  bool ok = true;
  const int64_t S = strip_width(W, rx, src.channels());
  for (int64_t x0 = 0; x0 < W; x0 += S) {
    BoxSumStream<Source> stream(src, H, W, ry, rx, y0, x0, std::min(W, x0 + S));
    while (stream.next_row() < y1) stream.emit(sink, stream.step(y1));
    ok &= stream.finite();
  }
  return ok;
}

// Splits H rows into bands for parallel work. The split depends on the
// image and radius only, never on the thread count, so results are bitwise
// identical on every machine. At most 8 bands, each at least twice the
// window height so that its start-up (summing its first window) stays cheap.
inline int64_t band_rows(int64_t H, int64_t ry) {
  ry = std::min(ry, H);
  return std::max<int64_t>({(H + 7) / 8, 2 * (2 * ry + 1), 32});
}

}  // namespace mfif
