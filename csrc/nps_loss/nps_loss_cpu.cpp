// CPU kernels of mfif::nps_loss and mfif::_nps_loss_backward.
//
// Every (b, c) plane of H*W pixels is cut into chunks of kChunk elements; one
// parallel pass over (plane, chunk) units computes the phi sum and the minima
// and maxima of pred and target (forward), or writes d phi / d pred and the
// same extremes (backward). Per-chunk results are then combined in chunk
// order, so the result does not depend on the number of threads.
//
// Subgradient of |min y - min yhat| and |max y - max yhat| (backward): the
// whole gradient of min(yhat) goes to the FIRST element, in memory (row-major)
// order of the plane, that equals the minimum (likewise for the maximum), and
// sign(0) = 0 (no gradient when min y == min yhat). The chunk that holds the
// first minimum is re-read once to find the element: O(kChunk) per plane.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/isfinite.h>
#include <torch/library.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "common/checks.h"
#include "nps_loss/nps_loss_args.h"
#include "nps_loss/nps_loss_kernels.h"

namespace mfif {
namespace {

constexpr int64_t kChunk = 4096;

void check_inputs(const at::Tensor& pred, const at::Tensor& target, double alpha) {
  check_nps_args(pred, target, alpha);
  check_cpu(pred, "pred");
  check_cpu(target, "target");
}

// alpha in the kernels' type, capped at 1e30 (float) or 1e300 (double): phi is
// already 1 for every |d| > 1e-28 there, and the cap keeps alpha and the
// derivative's 2 alpha exp(-alpha |d|) finite.
template <typename T>
T alpha_as(double alpha) {
  return T(std::min(alpha, std::is_same_v<T, float> ? 1e30 : 1e300));
}

[[noreturn]] void fail_non_finite(const at::Tensor& pred, const at::Tensor& target) {
  // Error path only: find which input is to blame.
  const bool pred_ok = at::isfinite(pred).all().item<bool>();
  const bool target_ok = at::isfinite(target).all().item<bool>();
  if (!pred_ok && !target_ok) TORCH_CHECK(false, "mfif: pred and target contain NaN or Inf");
  if (!pred_ok) TORCH_CHECK(false, "mfif: pred contains NaN or Inf");
  if (!target_ok) TORCH_CHECK(false, "mfif: target contains NaN or Inf");
  TORCH_CHECK(false, "mfif: nps_loss overflowed (values too large for ", pred.scalar_type(), ")");
}

template <typename T>
struct PlaneStats {
  double phi_sum;
  T pmin, pmax, tmin, tmax;
  int64_t pmin_chunk, pmax_chunk;  // first chunk holding the extreme
};

// Runs the chunk pass over every (plane, chunk) unit and combines the chunks
// of each plane in order. Returns false if any plane is non-finite.
template <typename T, bool kWriteGrad>
bool run_planes(const T* pred, const T* target, int64_t planes, int64_t n, T alpha, T* gpred,
                const T* plane_scale, std::vector<PlaneStats<T>>& out) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<nps::ChunkStats<T>> stats(planes * chunks);
  // grain: ~32K elements per task, so that small inputs run on one thread
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::min(n, kChunk));
  at::parallel_for(0, planes * chunks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t plane = u / chunks, chunk = u % chunks;
      const int64_t off = plane * n + chunk * kChunk;
      const int64_t len = std::min(kChunk, n - chunk * kChunk);
      stats[u] = nps::chunk_pass<T, kWriteGrad>(pred + off, target + off, len, alpha,
                                                kWriteGrad ? gpred + off : nullptr,
                                                kWriteGrad ? plane_scale[plane] : T(0));
    }
  });
  out.resize(planes);
  bool finite = true;
  for (int64_t plane = 0; plane < planes; ++plane) {
    const auto* s = stats.data() + plane * chunks;
    PlaneStats<T> ps{0.0, s[0].pmin, s[0].pmax, s[0].tmin, s[0].tmax, 0, 0};
    for (int64_t c = 0; c < chunks; ++c) {
      ps.phi_sum += s[c].phi_sum;
      if (s[c].pmin < ps.pmin) ps.pmin = s[c].pmin, ps.pmin_chunk = c;  // strict: first chunk wins
      if (s[c].pmax > ps.pmax) ps.pmax = s[c].pmax, ps.pmax_chunk = c;
      ps.tmin = std::min(ps.tmin, s[c].tmin);
      ps.tmax = std::max(ps.tmax, s[c].tmax);
    }
    finite = finite && std::isfinite(ps.phi_sum) && std::isfinite(ps.pmin) && std::isfinite(ps.pmax) &&
             std::isfinite(ps.tmin) && std::isfinite(ps.tmax);
    out[plane] = ps;
  }
  return finite;
}

at::Tensor nps_loss_cpu(const at::Tensor& pred_in, const at::Tensor& target_in, double alpha) {
  check_inputs(pred_in, target_in, alpha);
  if (is_half_float(pred_in)) {
    return nps_loss_cpu(pred_in.to(at::kFloat), target_in.to(at::kFloat), alpha).to(pred_in.scalar_type());
  }
  const at::Tensor pred = pred_in.contiguous();
  const at::Tensor target = target_in.contiguous();
  const int64_t B = pred.size(0), C = pred.size(1), n = pred.size(2) * pred.size(3);
  at::Tensor loss = at::empty({B}, pred.options());
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "mfif::nps_loss", [&] {
    std::vector<PlaneStats<scalar_t>> ps;
    const bool ok = run_planes<scalar_t, false>(pred.const_data_ptr<scalar_t>(), target.const_data_ptr<scalar_t>(),
                                                B * C, n, alpha_as<scalar_t>(alpha), nullptr, nullptr, ps);
    if (!ok) fail_non_finite(pred, target);
    scalar_t* out = loss.mutable_data_ptr<scalar_t>();
    for (int64_t b = 0; b < B; ++b) {
      double sum = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const auto& s = ps[b * C + c];
        sum += s.phi_sum / double(n) + std::abs(double(s.tmin) - double(s.pmin)) +
               std::abs(double(s.tmax) - double(s.pmax));
      }
      out[b] = scalar_t(sum);
    }
  });
  return loss;
}

at::Tensor nps_loss_backward_cpu(const at::Tensor& grad_in, const at::Tensor& pred_in, const at::Tensor& target_in,
                                 double alpha) {
  check_inputs(pred_in, target_in, alpha);
  check_nps_grad(grad_in, pred_in);
  check_cpu(grad_in, "grad");
  if (is_half_float(pred_in)) {
    return nps_loss_backward_cpu(float32_of(grad_in), pred_in.to(at::kFloat), target_in.to(at::kFloat), alpha)
        .to(pred_in.scalar_type());
  }
  const at::Tensor pred = pred_in.contiguous();
  const at::Tensor target = target_in.contiguous();
  const at::Tensor grad = grad_in.to(pred.scalar_type()).contiguous();
  const int64_t B = pred.size(0), C = pred.size(1), n = pred.size(2) * pred.size(3);
  at::Tensor gpred = at::empty_like(pred);
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "mfif::_nps_loss_backward", [&] {
    const scalar_t* p = pred.const_data_ptr<scalar_t>();
    const scalar_t* g = grad.const_data_ptr<scalar_t>();
    scalar_t* gp = gpred.mutable_data_ptr<scalar_t>();
    std::vector<scalar_t> scale(B * C);  // d loss_b / d phi(pixel) = grad_b / n
    for (int64_t plane = 0; plane < B * C; ++plane) scale[plane] = g[plane / C] / scalar_t(n);
    std::vector<PlaneStats<scalar_t>> ps;
    const bool ok = run_planes<scalar_t, true>(p, target.const_data_ptr<scalar_t>(), B * C, n,
                                               alpha_as<scalar_t>(alpha), gp, scale.data(), ps);
    if (!ok) fail_non_finite(pred, target);
    // Subgradients of the min/max terms at the first argmin/argmax of pred.
    // (re-reads one chunk per extreme: ~8K elements a plane, so 64 planes a task)
    at::parallel_for(0, B * C, 64, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const auto& s = ps[plane];
        const scalar_t gb = g[plane / C];
        const scalar_t* pp = p + plane * n;
        scalar_t* gpp = gp + plane * n;
        const int64_t cmin = s.pmin_chunk * kChunk, cmax = s.pmax_chunk * kChunk;
        const int64_t imin = cmin + nps::first_index_of(pp + cmin, std::min(kChunk, n - cmin), s.pmin);
        const int64_t imax = cmax + nps::first_index_of(pp + cmax, std::min(kChunk, n - cmax), s.pmax);
        gpp[imin] += gb * nps::sign(s.pmin - s.tmin);
        gpp[imax] += gb * nps::sign(s.pmax - s.tmax);
      }
    });
  });
  return gpred;
}

}  // namespace

TORCH_LIBRARY_IMPL(mfif, CPU, m) {
  m.impl("nps_loss", &nps_loss_cpu);
  m.impl("_nps_loss_backward", &nps_loss_backward_cpu);
}

}  // namespace mfif
