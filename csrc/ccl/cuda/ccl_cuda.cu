// CUDA kernels of mfif::connected_components and mfif::remove_small_regions:
// union-find labelling in the style of Playne and Hawick (IEEE TPDS 2018):
//   init:     every pixel of the target polarity is its own tree (parent = its
//             index in the batch, p = (b*H + y)*W + x);
//   merge:    every target pixel joins the trees of its target neighbours that
//             come earlier in raster order; a union hooks the larger root
//             under the smaller with atomicMin and retries until it sticks,
//             so every tree's root ends as its component's smallest index,
//             i.e. the component's first pixel in raster order;
//   compress: every pixel points straight at its root.
// Whatever order the atomics land in, the final forest is the same: the
// result is deterministic. Labels: a root flag per pixel, an inclusive prefix
// sum of the flags over the raster order (cub), minus the count before the
// image, numbers the components 1..n exactly like the CPU kernel (scipy's
// order). Areas (remove_small_regions): integer atomics of per-thread run
// lengths, aggregated across a warp, so their order does not matter either.
#include <cub/device/device_scan.cuh>

#include "ccl/cuda/ccl_cuda.h"
#include "common/cuda/launch.cuh"

namespace mfif::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kSegment = 32;  // pixels per thread when counting areas

struct Geometry {
  int32_t H, W, HW, n;  // n = B*H*W
};

__device__ __forceinline__ bool is_target(const uint8_t* px, int32_t p, uint8_t target) {
  return (px[p] != 0) == (target != 0);
}

// Root of x while other threads hook trees: reads bypass L1 (__ldcg) so that
// hooks made by other SMs are seen; parents only ever decrease, so a stale
// value is still an ancestor and the walk ends.
__device__ __forceinline__ int32_t find_root(const int32_t* parent, int32_t x) {
  int32_t p = __ldcg(parent + x);
  while (p != x) {
    x = p;
    p = __ldcg(parent + x);
  }
  return x;
}

__device__ __forceinline__ void unite(int32_t* parent, int32_t a, int32_t b) {
  while (true) {
    a = find_root(parent, a);
    b = find_root(parent, b);
    if (a == b) return;
    if (a > b) {
      const int32_t t = a;
      a = b;
      b = t;
    }
    // hook root b under a; if b stopped being a root meanwhile, retry from it
    const int32_t old = atomicMin(parent + b, a);
    if (old == b) return;
    b = old;
  }
}

__global__ void init_kernel(const uint8_t* __restrict__ px, int32_t* __restrict__ parent, Geometry g,
                            uint8_t target) {
  MFIF_GRID_LOOP(p, g.n) parent[p] = is_target(px, int32_t(p), target) ? int32_t(p) : -1;
}

__global__ void merge_kernel(const uint8_t* __restrict__ px, int32_t* parent, Geometry g, uint8_t target, int k) {
  MFIF_GRID_LOOP(q, g.n) {
    const int32_t p = int32_t(q);
    if (!is_target(px, p, target)) continue;
    const int32_t x = p % g.W, y = (p % g.HW) / g.W;
    const bool left = x > 0 && is_target(px, p - 1, target);
    const bool up = y > 0 && is_target(px, p - g.W, target);
    if (left) unite(parent, p, p - 1);
    if (up) {
      unite(parent, p, p - g.W);
    } else if (k && y > 0) {
      // with `up` set, the diagonals are joined through it (and the up-left
      // one through `left` too): only the remaining cases need a union here
      if (x > 0 && !left && is_target(px, p - g.W - 1, target)) unite(parent, p, p - g.W - 1);
      if (x + 1 < g.W && is_target(px, p - g.W + 1, target)) unite(parent, p, p - g.W + 1);
    }
  }
}

// flags (optional): 1 at roots, 0 elsewhere.
__global__ void compress_kernel(int32_t* parent, int32_t* __restrict__ flags, Geometry g) {
  MFIF_GRID_LOOP(q, g.n) {
    const int32_t p = int32_t(q);
    const int32_t par = parent[p];
    int32_t root = par;
    if (par >= 0) {
      root = find_root(parent, p);
      parent[p] = root;
    }
    if (flags != nullptr) flags[p] = root == p;
  }
}

// labels[p] = rank of p's root among the roots of its image (1-based).
__global__ void label_kernel(const int32_t* __restrict__ parent, const int32_t* __restrict__ ranks,
                             int32_t* __restrict__ labels, Geometry g) {
  MFIF_GRID_LOOP(q, g.n) {
    const int32_t p = int32_t(q), root = parent[p];
    const int32_t image_start = p - p % g.HW;
    const int32_t before = image_start > 0 ? ranks[image_start - 1] : 0;
    labels[p] = root >= 0 ? ranks[root] - before : 0;
  }
}

// area[root] += number of its pixels. Each thread counts the runs of equal
// roots in kSegment consecutive pixels; the last run of every thread (the
// one that usually continues into the next thread's pixels) is added once
// per warp and root. No grid-stride loop: all lanes reach the warp calls.
__global__ void area_kernel(const int32_t* __restrict__ parent, int32_t* area, Geometry g) {
  const int64_t seg = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t begin = seg * kSegment;
  const int64_t end = begin + kSegment < g.n ? begin + kSegment : g.n;
  int32_t root = -1, count = 0;
  for (int64_t p = begin; p < end; ++p) {
    const int32_t r = parent[p];
    if (r != root) {
      if (root >= 0) atomicAdd(area + root, count);
      root = r;
      count = 0;
    }
    ++count;
  }
  const unsigned peers = __match_any_sync(0xffffffffu, root);
  const int total = __reduce_add_sync(peers, root >= 0 ? count : 0);
  if (root >= 0 && int(threadIdx.x % 32) == __ffs(peers) - 1) atomicAdd(area + root, total);
}

// keep = pixels of mask whose region has at least min_area pixels.
__global__ void open_kernel(const uint8_t* __restrict__ mask, const int32_t* __restrict__ parent,
                            const int32_t* __restrict__ area, uint8_t* __restrict__ keep, Geometry g,
                            int32_t min_area) {
  MFIF_GRID_LOOP(p, g.n) {
    const int32_t r = parent[p];
    keep[p] = mask[p] != 0 && r >= 0 && area[r] >= min_area;
  }
}

// out = keep, plus the regions of zeros of keep with fewer than min_area pixels.
__global__ void fill_kernel(const uint8_t* __restrict__ keep, const int32_t* __restrict__ parent,
                            const int32_t* __restrict__ area, uint8_t* __restrict__ out, Geometry g,
                            int32_t min_area) {
  MFIF_GRID_LOOP(p, g.n) {
    const int32_t r = parent[p];
    out[p] = keep[p] != 0 || (r >= 0 && area[r] < min_area);
  }
}

// The forest of the target pixels of px, compressed; flags as compress_kernel.
void label_forest(const uint8_t* px, int32_t* parent, int32_t* flags, Geometry g, uint8_t target, int k,
                  cudaStream_t stream) {
  const unsigned blocks = grid_for(g.n, kThreads);
  init_kernel<<<blocks, kThreads, 0, stream>>>(px, parent, g, target);
  merge_kernel<<<blocks, kThreads, 0, stream>>>(px, parent, g, target, k);
  compress_kernel<<<blocks, kThreads, 0, stream>>>(parent, flags, g);
}

cudaError_t count_areas(const int32_t* parent, int32_t* area, Geometry g, cudaStream_t stream) {
  const cudaError_t err = cudaMemsetAsync(area, 0, size_t(g.n) * sizeof(int32_t), stream);
  if (err != cudaSuccess) return err;
  const int64_t segments = ceil_div(g.n, kSegment);
  area_kernel<<<unsigned(ceil_div(segments, kThreads)), kThreads, 0, stream>>>(parent, area, g);
  return cudaSuccess;
}

size_t scan_temp_bytes(int64_t n) {
  size_t bytes = 0;
  cub::DeviceScan::InclusiveSum(nullptr, bytes, static_cast<const int32_t*>(nullptr),
                                static_cast<int32_t*>(nullptr), int(n));
  return bytes;
}

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

}  // namespace

size_t ccl_label_scratch_bytes(int64_t n) {
  // parent, flags, ranks, cub's temporary storage
  return 3 * align256(size_t(n) * sizeof(int32_t)) + align256(scan_temp_bytes(n));
}

size_t ccl_filter_scratch_bytes(int64_t n) {
  // parent, area, keep
  return 2 * align256(size_t(n) * sizeof(int32_t)) + align256(size_t(n));
}

cudaError_t connected_components(const uint8_t* mask, int32_t* labels, void* scratch, int64_t B, int64_t H,
                                 int64_t W, int k, cudaStream_t stream) {
  const Geometry g{int32_t(H), int32_t(W), int32_t(H * W), int32_t(B * H * W)};
  char* mem = static_cast<char*>(scratch);
  const size_t plane = align256(size_t(g.n) * sizeof(int32_t));
  int32_t* parent = reinterpret_cast<int32_t*>(mem);
  int32_t* flags = reinterpret_cast<int32_t*>(mem + plane);
  int32_t* ranks = reinterpret_cast<int32_t*>(mem + 2 * plane);
  void* temp = mem + 3 * plane;
  size_t temp_bytes = scan_temp_bytes(g.n);
  label_forest(mask, parent, flags, g, 1, k, stream);
  cudaError_t err = cub::DeviceScan::InclusiveSum(temp, temp_bytes, flags, ranks, g.n, stream);
  if (err != cudaSuccess) return err;
  label_kernel<<<grid_for(g.n, kThreads), kThreads, 0, stream>>>(parent, ranks, labels, g);
  return last_launch_status();
}

cudaError_t remove_small_regions(const uint8_t* mask, uint8_t* out, void* scratch, int64_t B, int64_t H, int64_t W,
                                 int32_t min_area, int k, cudaStream_t stream) {
  const Geometry g{int32_t(H), int32_t(W), int32_t(H * W), int32_t(B * H * W)};
  char* mem = static_cast<char*>(scratch);
  const size_t plane = align256(size_t(g.n) * sizeof(int32_t));
  int32_t* parent = reinterpret_cast<int32_t*>(mem);
  int32_t* area = reinterpret_cast<int32_t*>(mem + plane);
  uint8_t* keep = reinterpret_cast<uint8_t*>(mem + 2 * plane);
  const unsigned blocks = grid_for(g.n, kThreads);
  // bwareaopen(D, a): regions of ones and their areas ...
  label_forest(mask, parent, nullptr, g, 1, k, stream);
  cudaError_t err = count_areas(parent, area, g, stream);
  if (err != cudaSuccess) return err;
  open_kernel<<<blocks, kThreads, 0, stream>>>(mask, parent, area, keep, g, min_area);
  // ... then 1 - bwareaopen(1 - D, a): regions of zeros of that image
  label_forest(keep, parent, nullptr, g, 0, k, stream);
  err = count_areas(parent, area, g, stream);
  if (err != cudaSuccess) return err;
  fill_kernel<<<blocks, kThreads, 0, stream>>>(keep, parent, area, out, g, min_area);
  return last_launch_status();
}

}  // namespace mfif::cuda
