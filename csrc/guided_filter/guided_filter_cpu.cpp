// CPU kernel of the guided filter (He, Sun, Tang 2013), gray or colour guide.
//
// Two interleaved streams of the box-sum engine over many channels whose
// values are computed on the fly (products such as I*p are never stored):
//   stream 1: box means of I, I*I (or the 3x3 I*I^T), p and I*p  ->  a, b
//   stream 2: box means of a and b  ->  q = mean(a) . I + mean(b)
// Stream 1 runs r+1 rows ahead of stream 2 and hands a and b over through a
// ring buffer of 2r + a few rows, so no full-size temporary is ever allocated
// and the working set stays in cache. One pass over guide and src in, one
// pass over the output.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "box_filter/box_sum.h"
#include "common/checks.h"
#include "guided_filter/guided_filter_args.h"
#include "common/parallel.h"
#include "guided_filter/guided_math.h"

namespace mfif {
namespace {

// Row pointer of plane `c` at row y, or a zero row outside the image.
template <typename T>
struct Planes {
  const T* base;     // [channels, H, W] of one batch item
  int64_t H, W;
  const T* zeros;
  const T* row(int64_t c, int y) const { return y >= 0 ? base + (c * H + y) * W : zeros; }
};

// K channels of the last R rows of a column strip [c0, c0 + W): row y of
// channel k lives at slot y % R; rows are indexed by absolute column.
template <typename T>
struct RingRows {
  T* base;           // [R, K, W]
  int64_t R, K, W, c0;
  const T* zeros;    // indexed by absolute column too
  T* row(int64_t k, int y) const { return base + ((y % R) * K + k) * W - c0; }
};

// cur[x] = prev[x] + f(a-row values) - f(s-row values), vectorised over x.
#define MFIF_UPDATE(K_INDEX, EXPR_A, EXPR_S)                                   \
  {                                                                           \
    const double* __restrict pv = prev + int64_t(K_INDEX) * stride;           \
    double* __restrict cv = cur + int64_t(K_INDEX) * stride;                  \
    for (int64_t x = c0; x < c1; ++x) cv[x] = pv[x] + ((EXPR_A) - (EXPR_S));  \
  }

// Pass 1 channels: gray guide: [I, I*I, p_c..., I*p_c...] (2 + 2C);
// colour guide: [I_0..2, I_i*I_j (i<=j, 6), p_c..., I_i*p_c... (3C)] (9 + 4C).
template <typename T, int CG>
struct StatsSource {
  Planes<T> guide, src;
  int64_t C;
  int channels() const { return CG == 1 ? int(2 + 2 * C) : int(9 + 4 * C); }
  void update(int ya, int ys, const double* prev, double* cur, int64_t stride, int64_t c0, int64_t c1) const {
    const T* __restrict ia[3];
    const T* __restrict is[3];
    for (int i = 0; i < CG; ++i) ia[i] = guide.row(i, ya), is[i] = guide.row(i, ys);
    int k = 0;
    for (int i = 0; i < CG; ++i, ++k) MFIF_UPDATE(k, double(ia[i][x]), double(is[i][x]));
    for (int i = 0; i < CG; ++i)
      for (int j = i; j < CG; ++j, ++k)
        MFIF_UPDATE(k, double(ia[i][x]) * double(ia[j][x]), double(is[i][x]) * double(is[j][x]));
    for (int64_t c = 0; c < C; ++c, ++k) {
      const T* __restrict pa = src.row(c, ya);
      const T* __restrict ps = src.row(c, ys);
      MFIF_UPDATE(k, double(pa[x]), double(ps[x]));
    }
    for (int64_t c = 0; c < C; ++c) {
      const T* __restrict pa = src.row(c, ya);
      const T* __restrict ps = src.row(c, ys);
      for (int i = 0; i < CG; ++i, ++k)
        MFIF_UPDATE(k, double(ia[i][x]) * double(pa[x]), double(is[i][x]) * double(ps[x]));
    }
  }
};

// Pass 1 sink: the linear coefficients a (CG per source channel) and b.
template <typename T, int CG>
struct CoefficientSink {
  RingRows<T> ab;  // channels: a_{c,i} at c*CG+i, then b_c at CG*C+c
  int64_t C;
  double eps;
  const double* inv_nx;
  void operator()(int y, const double* box, int64_t stride, double inv_ny, int64_t x0, int64_t x1) const {
    auto ch = [&](int k) { return box + int64_t(k) * stride; };
    if constexpr (CG == 1) {
      const double* __restrict sI = ch(0);
      const double* __restrict sII = ch(1);
      for (int64_t c = 0; c < C; ++c) {
        const double* __restrict sP = ch(int(2 + c));
        const double* __restrict sIP = ch(int(2 + C + c));
        T* __restrict ac = ab.row(c, y);
        T* __restrict bc = ab.row(CG * C + c, y);
        for (int64_t x = x0; x < x1; ++x) {
          const double n = inv_ny * inv_nx[x];
          double a, b;
          gray_coefficients(sI[x] * n, sII[x] * n, sP[x] * n, sIP[x] * n, eps, a, b);
          ac[x] = T(a);
          bc[x] = T(b);
        }
      }
    } else {
      for (int64_t x = x0; x < x1; ++x) {
        const double n = inv_ny * inv_nx[x];
        double mean_i[3], corr_ii[6], inv[6];
        for (int i = 0; i < 3; ++i) mean_i[i] = ch(i)[x] * n;
        for (int i = 0; i < 6; ++i) corr_ii[i] = ch(3 + i)[x] * n;
        color_inverse(mean_i, corr_ii, eps, inv);
        for (int64_t c = 0; c < C; ++c) {
          double corr_ip[3], a[3], b;
          const double mean_p = ch(int(9 + c))[x] * n;
          for (int i = 0; i < 3; ++i) corr_ip[i] = ch(int(9 + C + 3 * c + i))[x] * n;
          color_coefficients(mean_i, inv, mean_p, corr_ip, a, b);
          for (int i = 0; i < 3; ++i) ab.row(3 * c + i, y)[x] = T(a[i]);
          ab.row(3 * C + c, y)[x] = T(b);
        }
      }
    }
  }
};

// Pass 2 channels: the planes of a and b as they are.
template <typename T>
struct PlanesSource {
  RingRows<T> planes;
  int64_t K;
  int channels() const { return int(K); }
  void update(int ya, int ys, const double* prev, double* cur, int64_t stride, int64_t c0, int64_t c1) const {
    for (int64_t k = 0; k < K; ++k) {
      const T* __restrict a = ya >= 0 ? planes.row(k, ya) : planes.zeros;
      const T* __restrict s = ys >= 0 ? planes.row(k, ys) : planes.zeros;
      MFIF_UPDATE(k, double(a[x]), double(s[x]));
    }
  }
};

// Pass 2 sink: q_c = sum_i mean(a_{c,i}) * I_i + mean(b_c).
template <typename T, int CG>
struct OutputSink {
  T* out;          // [C, H, W]
  const T* guide;  // [CG, H, W]
  int64_t C, H, W;
  const double* inv_nx;
  void operator()(int y, const double* box, int64_t stride, double inv_ny, int64_t x0, int64_t x1) const {
    const int64_t plane = H * W, row = int64_t(y) * W;
    for (int64_t c = 0; c < C; ++c) {
      T* __restrict q = out + c * plane + row;
      const double* __restrict sb = box + (CG * C + c) * stride;
      for (int64_t x = x0; x < x1; ++x) {
        double v = sb[x];
        for (int i = 0; i < CG; ++i) v += box[(c * CG + i) * stride + x] * double(guide[i * plane + row + x]);
        q[x] = T(v * inv_ny * inv_nx[x]);
      }
    }
  }
};

#undef MFIF_UPDATE

// Output rows [y0, y1), columns [x0, x1) of one batch item.
template <typename T, int CG>
bool guided_filter_strip(const T* guide, const T* src, T* out, int64_t C, int64_t H, int64_t W,
                         int64_t radius, double eps, const double* inv_nx, const T* zeros,
                         int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  const int64_t ry = std::min(radius, H - 1), rx = std::min(radius, W - 1), n_ab = (CG + 1) * C;
  // stream 2's windows read a and b on columns [s0, s1)
  const int64_t s0 = std::max<int64_t>(0, x0 - rx), s1 = std::min<int64_t>(W, x1 + rx);
  // rows stream 2 may read at once (2ry+1) plus both streams' step lookahead
  const int64_t R = 2 * ry + 2 + 2 * 4;
  std::vector<T> ring(size_t(R * n_ab * (s1 - s0)));
  const RingRows<T> ab{ring.data(), R, n_ab, s1 - s0, s0, zeros};
  const StatsSource<T, CG> stats{{guide, H, W, zeros}, {src, H, W, zeros}, C};
  const CoefficientSink<T, CG> coef{ab, C, eps, inv_nx};
  const PlanesSource<T> coefs{ab, n_ab};
  const OutputSink<T, CG> output{out, guide, C, H, W, inv_nx};

  BoxSumStream<StatsSource<T, CG>> s1_stream(stats, H, W, radius, radius, std::max<int64_t>(0, y0 - ry - 1), s0, s1);
  auto produce_until = [&](int64_t row_end) {  // a and b of all rows < row_end
    row_end = std::min(row_end, H);
    while (s1_stream.next_row() < row_end) s1_stream.emit(coef, s1_stream.step(H));
  };
  produce_until(y0 + ry);
  BoxSumStream<PlanesSource<T>> s2_stream(coefs, H, W, radius, radius, y0, x0, x1);
  while (s2_stream.next_row() < y1) {
    produce_until(s2_stream.next_row() + s2_stream.rows_per_step() + ry);
    s2_stream.emit(output, s2_stream.step(y1));
  }
  return s1_stream.finite() && s2_stream.finite();
}

template <typename T, int CG>
bool guided_filter_kernel(const at::Tensor& guide, const at::Tensor& src, at::Tensor& out,
                          int64_t radius, double eps) {
  const int64_t B = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3), plane = H * W;
  const std::vector<double> inv_nx = inverse_window_counts(W, radius);
  const std::vector<T> zeros(W, T(0));
  const T* g = guide.const_data_ptr<T>();
  const T* p = src.const_data_ptr<T>();
  T* q = out.mutable_data_ptr<T>();
  const int64_t band = band_rows(H, radius);
  const int channels = CG == 1 ? int(2 + 2 * C) : int(9 + 4 * C);
  const int64_t S = strip_width(W, radius, channels);
  return parallel_bands(B, H, band, [&](int64_t b, int64_t y0, int64_t y1) {
    bool ok = true;
    for (int64_t x0 = 0; x0 < W; x0 += S)
      ok &= guided_filter_strip<T, CG>(g + b * CG * plane, p + b * C * plane, q + b * C * plane, C, H, W, radius,
                                       eps, inv_nx.data(), zeros.data(), y0, y1, x0, std::min(W, x0 + S));
    return ok;
  });
}

at::Tensor guided_filter_cpu(const at::Tensor& guide_in, const at::Tensor& src_in, int64_t radius, double eps) {
  check_cpu(guide_in, "guide");
  check_cpu(src_in, "src");
  check_guided_filter_args(guide_in, src_in, radius, eps);
  if (is_half_float(src_in)) {
    return guided_filter_cpu(guide_in.to(at::kFloat), src_in.to(at::kFloat), radius, eps).to(src_in.scalar_type());
  }
  radius = cap_radius(radius, src_in.size(2), src_in.size(3));
  const at::Tensor guide = guide_in.contiguous(), src = src_in.contiguous();
  at::Tensor out = at::empty(src.sizes(), src.options());
  bool ok = true;
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "mfif::guided_filter", [&] {
    ok = guide.size(1) == 1 ? guided_filter_kernel<scalar_t, 1>(guide, src, out, radius, eps)
                            : guided_filter_kernel<scalar_t, 3>(guide, src, out, radius, eps);
  });
  TORCH_CHECK(ok, "mfif: guide or src contains NaN or Inf; clean them (e.g. torch.nan_to_num) first");
  return out;
}

}  // namespace
}  // namespace mfif

TORCH_LIBRARY_IMPL(mfif, CPU, m) { m.impl("guided_filter", &mfif::guided_filter_cpu); }
