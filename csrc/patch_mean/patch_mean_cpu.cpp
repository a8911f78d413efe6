// CPU kernels of mfif::patch_mean and mfif::_patch_mean_backward (focus map of
// Liu et al. 2017); the math and the row loops are in patch_mean_kernels.h.
//
// Forward, per image: (1) logits only: probabilities p = softmax(l)[0], once
// per score, into a scratch map (and a NaN/Inf check of the logits);
// (2) in parallel over stride blocks of output rows: the column sums of the
// covering score rows (one row of partial sums per distinct row range), box
// sums along the row, then the expansion to pixels divided by the counts,
// written once and copied to the other rows of the block that share the range.
// Score maps with NaN/Inf show up as non-finite box sums (every score reaches
// at least one): checked on those short rows, no extra pass.
//
// Backward (the adjoint): grad_scores[i, j] = sum over the window of (i, j) of
// grad[y, x] / count[y, x], separable in the same way: window sums along each
// pixel row, then window sums down the columns; times the softmax Jacobian
// d p / d l0 = p (1 - p) = -d p / d l1 for logits.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "common/checks.h"
#include "patch_mean/patch_mean_args.h"
#include "patch_mean/patch_mean_kernels.h"

namespace mfif {
namespace {

namespace pm = patch_mean;

// Pixel-row windows longer than this are summed with running sums (backward).
constexpr int64_t kDirectRowsMax = 32;

// Grain size for at::parallel_for: enough items for ~32K elements of work, so
// that small maps run on one thread (no OpenMP start-up and barrier costs).
int64_t grain(int64_t work_per_item) {
  constexpr int64_t kMinWork = 1 << 15;
  return std::max<int64_t>(1, kMinWork / std::max<int64_t>(1, work_per_item));
}

void check_scores(const at::Tensor& scores) {
  check_scores_layout(scores);
  check_cpu(scores, "scores");
}

// 1 / (number of windows covering pixel y) for y < N.
template <typename T>
std::vector<T> inverse_counts(int64_t n, int64_t N, int64_t patch, int64_t stride) {
  std::vector<T> w(N);
  for (int64_t y = 0; y < N; ++y) w[y] = T(1) / T(pm::cover_count(y, n, patch, stride));
  return w;
}

// Running column sums in double: cp[(b*(rows+1) + i) * cols + j] = sum_{i' < i} x[b][i'][j].
template <typename T>
std::vector<double> column_prefix(const T* x, int64_t B, int64_t rows, int64_t cols) {
  std::vector<double> cp(B * (rows + 1) * cols);
  constexpr int64_t kCols = 256;
  const int64_t chunks = (cols + kCols - 1) / kCols;
  at::parallel_for(0, B * chunks, grain(kCols * rows), [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / chunks, j0 = (u % chunks) * kCols, nj = std::min(kCols, cols - j0);
      double* c = cp.data() + b * (rows + 1) * cols + j0;
      const T* xb = x + b * rows * cols + j0;
      std::fill(c, c + nj, 0.0);
      for (int64_t i = 0; i < rows; ++i) pm::accumulate_row(xb + i * cols, nj, c + i * cols, c + (i + 1) * cols);
    }
  });
  return cp;
}

// Phases r of an axis split into at most two groups of equal covering length:
// r < split has length len0, r >= split has length len0 - 1.
struct Phases {
  int64_t len0, split;
  Phases(int64_t patch, int64_t stride)
      : len0(pm::phase_len(0, patch, stride)), split((patch - 1) % stride + 1) {}
};

template <typename T>
void forward_kernel(const T* P, int64_t B, int64_t h, int64_t w, int64_t H, int64_t W, int64_t patch, int64_t stride,
                    T* out, std::atomic<bool>& bad) {
  const Phases ph(patch, stride);  // same phases on both axes
  const int64_t Kh = (H + stride - 1) / stride, Kw = (W + stride - 1) / stride;
  const std::vector<T> wx = inverse_counts<T>(w, W, patch, stride);
  const bool prefix_rows = ph.len0 > pm::kDirectMax;
  std::vector<double> cp;
  if (prefix_rows) cp = column_prefix(P, B, h, w);
  const int64_t n_groups = ph.split < stride ? 2 : 1;

  at::parallel_for(0, B * Kh, grain(W * stride), [&](int64_t begin, int64_t end) {
    // Vp: row of column sums with len0 - 1 zeros in front and zeros behind,
    // so that the box sums need no border cases.
    std::vector<T> vp(Kw + ph.len0 - 1, T(0));
    T* v = vp.data() + ph.len0 - 1;
    std::vector<T> s0(Kw), s1(n_groups > 1 ? Kw : 0);
    std::vector<const T*> src(stride);
    for (int64_t r = 0; r < stride; ++r) src[r] = r < ph.split ? s0.data() : s1.data();
    bool chunk_bad = false;
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / Kh, k = u % Kh;
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t r_begin = g == 0 ? 0 : ph.split, r_end = g == 0 ? ph.split : stride;
        const int64_t y_begin = k * stride + r_begin, y_end = std::min(k * stride + r_end, H);
        if (y_begin >= y_end) continue;
        const int64_t len = ph.len0 - g;
        const int64_t lo = std::max<int64_t>(0, k - len + 1), hi = std::min(k, h - 1);
        if (prefix_rows) {
          const double* c = cp.data() + b * (h + 1) * w;
          pm::diff_rows(c + (hi + 1) * w, c + lo * w, w, v);
        } else {
          pm::sum_rows(P + b * h * w, w, lo, hi, w, v);
        }
        pm::box_sum(vp.data(), Kw, ph.len0, s0.data());
        if (n_groups > 1) pm::box_sum(vp.data() + 1, Kw, ph.len0 - 1, s1.data());
        chunk_bad = chunk_bad || pm::any_non_finite(s0.data(), Kw) ||
                    (n_groups > 1 && pm::any_non_finite(s1.data(), Kw));
        const T inv_rows = T(1) / T(hi - lo + 1);
        for (int64_t x = 0; x < Kw; ++x) s0[x] *= inv_rows;
        for (int64_t x = 0; x < static_cast<int64_t>(s1.size()); ++x) s1[x] *= inv_rows;
        T* z = out + (b * H + y_begin) * W;
        if (stride == 1) {
          pm::expand_row<1>(src.data(), wx.data(), W, stride, z);
        } else if (stride == 2) {
          pm::expand_row<2>(src.data(), wx.data(), W, stride, z);
        } else {
          pm::expand_row<0>(src.data(), wx.data(), W, stride, z);
        }
        for (int64_t y = y_begin + 1; y < y_end; ++y) std::memcpy(out + (b * H + y) * W, z, W * sizeof(T));
      }
    }
    if (chunk_bad) bad.store(true, std::memory_order_relaxed);
  });
}

at::Tensor patch_mean_cpu(const at::Tensor& scores_in, int64_t height, int64_t width, int64_t patch, int64_t stride) {
  check_scores(scores_in);
  const bool logits = scores_in.dim() == 4;
  const int64_t B = scores_in.size(0), h = scores_in.size(-2), w = scores_in.size(-1);
  check_geometry(h, height, patch, stride, "rows", "height");
  check_geometry(w, width, patch, stride, "columns", "width");
  if (is_half_float(scores_in)) {
    return patch_mean_cpu(scores_in.to(at::kFloat), height, width, patch, stride).to(scores_in.scalar_type());
  }
  cap_window(patch, stride, height, width);
  const at::Tensor scores = scores_in.contiguous();
  at::Tensor out = at::empty({B, height, width}, scores.options());
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "mfif::patch_mean", [&] {
    const scalar_t* P = scores.const_data_ptr<scalar_t>();
    at::Tensor probs;
    if (logits) {
      probs = at::empty({B, h, w}, scores.options());
      scalar_t* p = probs.mutable_data_ptr<scalar_t>();
      const scalar_t* l = scores.const_data_ptr<scalar_t>();
      at::parallel_for(0, B * h, grain(w), [&](int64_t begin, int64_t end) {
        bool chunk_bad = false;
        for (int64_t u = begin; u < end; ++u) {
          const int64_t b = u / h, i = u % h;
          const scalar_t* l0 = l + (b * 2 * h + i) * w;
          chunk_bad = pm::logits_to_prob(l0, l0 + h * w, p + u * w, w) || chunk_bad;
        }
        if (chunk_bad) bad.store(true, std::memory_order_relaxed);
      });
      P = p;
    }
    if (!bad.load()) {
      forward_kernel(P, B, h, w, height, width, patch, stride, out.mutable_data_ptr<scalar_t>(), bad);
    }
  });
  TORCH_CHECK(!bad.load(), "mfif: scores contains NaN or Inf",
              logits ? "" : " (or values so large that their sums overflow)");
  return out;
}

// Backward in bands of kBandScores score rows (fixed, so the result does not
// depend on the thread count): the window sums along the pixel rows that the
// band's windows cover go to a band buffer (which stays in cache), then the
// window sums down its columns give the band's score rows. Neighbouring bands
// share patch - stride pixel rows, which are summed twice.
constexpr int64_t kBandScores = 32;

template <typename T>
void backward_kernel(const T* G, const T* L, bool logits, int64_t B, int64_t h, int64_t w, int64_t H, int64_t W,
                     int64_t patch, int64_t stride, T* gs) {
  const int64_t q = patch / stride;
  const std::vector<T> wx = inverse_counts<T>(w, W, patch, stride);
  const std::vector<T> wy = inverse_counts<T>(h, H, patch, stride);
  const int64_t bands = (h + kBandScores - 1) / kBandScores;
  const int64_t band_rows = std::min((kBandScores - 1) * stride + patch, H);  // pixel rows a band reads, at most
  const bool prefix = patch > kDirectRowsMax;
  at::parallel_for(0, B * bands, grain(band_rows * W), [&](int64_t begin, int64_t end) {
    std::vector<T> gw((w + q + 1) * stride, T(0)), blocks(w + q + 1), hb(band_rows * w), tmp(logits ? w : 0);
    std::vector<double> cp(prefix ? (band_rows + 1) * w : 0);
    for (int64_t u = begin; u < end; ++u) {
      const int64_t b = u / bands, i0 = (u % bands) * kBandScores, i1 = std::min(i0 + kBandScores, h);
      const int64_t y0 = i0 * stride, y1 = std::min((i1 - 1) * stride + patch, H);
      // (1) hb[y - y0][j] = sum over the window of column j of grad[y] / count
      for (int64_t y = y0; y < y1; ++y) {
        const T* g = G + (b * H + y) * W;
        for (int64_t x = 0; x < W; ++x) gw[x] = g[x] * wx[x];
        T* hr = hb.data() + (y - y0) * w;
        pm::window_sums(gw.data(), w, patch, stride, blocks.data(), hr);
        const T c = wy[y];
        for (int64_t j = 0; j < w; ++j) hr[j] *= c;
      }
      if (prefix) {
        std::fill(cp.begin(), cp.begin() + w, 0.0);
        for (int64_t r = 0; r < y1 - y0; ++r) {
          pm::accumulate_row(hb.data() + r * w, w, cp.data() + r * w, cp.data() + (r + 1) * w);
        }
      }
      // (2) score row i: sum of hb over the window's pixel rows
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r0 = i * stride - y0, r1 = std::min(i * stride + patch, H) - 1 - y0;
        T* dst = logits ? tmp.data() : gs + (b * h + i) * w;
        if (prefix) {
          pm::diff_rows(cp.data() + (r1 + 1) * w, cp.data() + r0 * w, w, dst);
        } else {
          pm::sum_rows(hb.data(), w, r0, r1, w, dst);
        }
        if (logits) {
          const T* l0 = L + (b * 2 * h + i) * w;
          T* g0 = gs + (b * 2 * h + i) * w;
          pm::prob_backward(dst, l0, l0 + h * w, w, g0, g0 + h * w);
        }
      }
    }
  });
}

at::Tensor patch_mean_backward_cpu(const at::Tensor& grad_in, const at::Tensor& scores_in, int64_t patch,
                                   int64_t stride) {
  check_scores(scores_in);
  check_float_or_half(grad_in, "grad");
  check_dim(grad_in, 3, "grad", "[B, H, W]");
  check_cpu(grad_in, "grad");
  const bool logits = scores_in.dim() == 4;
  const int64_t B = scores_in.size(0), h = scores_in.size(-2), w = scores_in.size(-1);
  TORCH_CHECK(grad_in.size(0) == B, "mfif: grad has batch ", grad_in.size(0), " but scores has ", B);
  const int64_t H = grad_in.size(1), W = grad_in.size(2);
  check_geometry(h, H, patch, stride, "rows", "height");
  check_geometry(w, W, patch, stride, "columns", "width");
  if (is_half_float(scores_in)) {
    return patch_mean_backward_cpu(float32_of(grad_in), scores_in.to(at::kFloat), patch, stride)
        .to(scores_in.scalar_type());
  }
  cap_window(patch, stride, H, W);
  const at::Tensor scores = scores_in.contiguous();
  const at::Tensor grad = grad_in.to(scores.scalar_type()).contiguous();
  at::Tensor gs = at::empty(scores.sizes(), scores.options());
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "mfif::_patch_mean_backward", [&] {
    backward_kernel(grad.const_data_ptr<scalar_t>(), scores.const_data_ptr<scalar_t>(), logits, B, h, w, H, W, patch,
                    stride, gs.mutable_data_ptr<scalar_t>());
  });
  return gs;
}

}  // namespace

TORCH_LIBRARY_IMPL(mfif, CPU, m) {
  m.impl("patch_mean", &patch_mean_cpu);
  m.impl("_patch_mean_backward", &patch_mean_backward_cpu);
}

}  // namespace mfif
