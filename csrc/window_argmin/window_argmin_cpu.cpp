// CPU kernel of mfif::window_argmin: for each query row m, the position k in
// cand_index[m, :] of the candidate row of smallest squared Euclidean distance
// to queries[m] (the first such k on ties, the order MATLAB's find gives).
// The matching step of dense-SIFT fusion (Liu, Liu, Wang 2015) compares each
// undecided pixel's descriptor with the 49 descriptors of a 7x7 window of the
// other source: gathering those windows as tensors costs ~30x this loop.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>

#include "common/checks.h"

namespace mfif {
namespace {

// Squared distance of two rows, summed in 8 interleaved partial sums (vectorises).
template <typename T>
T squared_distance(const T* a, const T* b, int64_t D) {
  constexpr int kLanes = 8;
  T part[kLanes] = {};
  int64_t d = 0;
  for (; d + kLanes <= D; d += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const T diff = a[d + l] - b[d + l];
      part[l] += diff * diff;
    }
  }
  T acc = 0;
  for (int l = 0; l < kLanes; ++l) acc += part[l];
  for (; d < D; ++d) {
    const T diff = a[d] - b[d];
    acc += diff * diff;
  }
  return acc;
}

at::Tensor window_argmin_cpu(const at::Tensor& queries, const at::Tensor& candidates, const at::Tensor& cand_index) {
  check_float(queries, "queries");
  check_dim(queries, 2, "queries", "[M, D]");
  check_dim(candidates, 2, "candidates", "[N, D]");
  check_dim(cand_index, 2, "cand_index", "[M, K]");
  check_cpu(queries, "queries");
  TORCH_CHECK(candidates.scalar_type() == queries.scalar_type(), "mfif: candidates must have the dtype of queries (",
              queries.scalar_type(), "), got ", candidates.scalar_type());
  TORCH_CHECK(cand_index.scalar_type() == at::kLong, "mfif: cand_index must be int64, got ", cand_index.scalar_type());
  TORCH_CHECK(candidates.size(1) == queries.size(1), "mfif: queries have ", queries.size(1),
              " values per row but candidates have ", candidates.size(1));
  TORCH_CHECK(cand_index.size(0) == queries.size(0), "mfif: cand_index has ", cand_index.size(0),
              " rows but there are ", queries.size(0), " queries");
  TORCH_CHECK(cand_index.size(1) > 0, "mfif: cand_index needs at least one candidate per query");
  const auto q = queries.contiguous();
  const auto c = candidates.contiguous();
  const auto idx = cand_index.contiguous();
  const int64_t M = q.size(0), D = q.size(1), N = c.size(0), K = idx.size(1);
  auto out = at::empty({M}, idx.options());
  int64_t* op = out.data_ptr<int64_t>();
  const int64_t* ip = idx.const_data_ptr<int64_t>();
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "window_argmin", [&] {
    const scalar_t* qp = q.const_data_ptr<scalar_t>();
    const scalar_t* cp = c.const_data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, K * D));
    at::parallel_for(0, M, grain, [&](int64_t begin, int64_t end) {
      for (int64_t m = begin; m < end; ++m) {
        const scalar_t* v = qp + m * D;
        const int64_t* row = ip + m * K;
        scalar_t best = 0;
        int64_t arg = 0;
        for (int64_t k = 0; k < K; ++k) {
          const int64_t j = row[k];
          if (j < 0 || j >= N) {
            bad = true;
            break;
          }
          const scalar_t dist = squared_distance(cp + j * D, v, D);
          if (k == 0 || dist < best) {
            best = dist;
            arg = k;
          }
        }
        op[m] = arg;
      }
    });
  });
  TORCH_CHECK(!bad, "mfif: cand_index holds a row outside candidates (0..", N - 1, ")");
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mfif, CPU, m) { m.impl("window_argmin", &mfif::window_argmin_cpu); }

}  // namespace mfif
