// The one place where the mfif operator schemas are declared. Kernels are
// registered per dispatch key next to their implementation (csrc/<op>/).
#include <torch/library.h>

#include <string>

namespace mfif {
std::string cpu_isa_name();  // csrc/common/cpu_isa.cpp
}

TORCH_LIBRARY(mfif, m) {
  // Focus map of Liu et al. 2017: mean of the dense scores covering each pixel.
  // scores: [B,h,w] probabilities or [B,2,h,w] logits (softmax fused).
  m.def("patch_mean(Tensor scores, int height, int width, int patch, int stride) -> Tensor");
  m.def("_patch_mean_backward(Tensor grad, Tensor scores, int patch, int stride) -> Tensor");

  // Dense score head of Liu et al. 2017: 8x8 conv of the two branches' features
  // [B,C,h',w'] with weight [2,2C,k,k] (+ bias [2]), two-class softmax -> [B,h,w]
  // probabilities that the first source is in focus; with height, width > 0 the
  // focus map [B,height,width] (patch mean, patch/stride) instead.
  m.def("score_map(Tensor fa, Tensor fb, Tensor weight, Tensor? bias, int height, int width, int patch, int stride) -> Tensor");
  // Its backward's softmax slope p (1 - p) per score [B,h,w], computed from the
  // logit difference (exact where p saturates, unlike 1 - p from a rounded p).
  m.def("_score_map_slope(Tensor fa, Tensor fb, Tensor weight, Tensor? bias) -> Tensor");

  // Connected components (labels in raster order of first pixel, like scipy).
  m.def("connected_components(Tensor mask, int connectivity) -> Tensor");
  // MATLAB's D = bwareaopen(D, a); D = 1 - bwareaopen(1 - D, a).
  m.def("remove_small_regions(Tensor mask, int min_area, int connectivity) -> Tensor");

  // Nearest neighbours among given candidates: for each query row m, the k of
  // smallest squared distance |candidates[cand_index[m, k]] - queries[m]|^2, the
  // first k on ties (dense-SIFT matching, Liu, Liu, Wang 2015). -> [M] int64.
  m.def("window_argmin(Tensor queries, Tensor candidates, Tensor cand_index) -> Tensor");

  // Box filter with the border rule of He's guided filter (mean over the part
  // of the window inside the image).
  m.def("box_filter(Tensor x, int radius, bool normalize) -> Tensor");
  m.def("_box_filter_backward(Tensor grad, int radius, bool normalize) -> Tensor");

  // Guided filter (He et al. 2013), 1- or 3-channel guide.
  m.def("guided_filter(Tensor guide, Tensor src, int radius, float eps) -> Tensor");

  // NPS loss (Guerrero Pena et al.): per-sample loss [B].
  m.def("nps_loss(Tensor pred, Tensor target, float alpha) -> Tensor");
  m.def("_nps_loss_backward(Tensor grad, Tensor pred, Tensor target, float alpha) -> Tensor");

  // Last stage of Liu et al.'s post-processing, fused (CUDA kernel only; the
  // CPU path composes the ops): weights = guided_filter(grey(d ? a : b), d),
  // fused = b + weights * (a - b). Returns (fused [B,C,H,W], weights [B,H,W]).
  // Which CPU kernels run: "avx2" or "baseline" (see csrc/common/cpu_kernels.h;
  // MFIF_CPU_ISA=baseline forces the portable ones). No tensors: one kernel.
  m.def("_cpu_isa() -> str", &mfif::cpu_isa_name);

  m.def("_liu_fusion(Tensor decision, Tensor a, Tensor b, int radius, float eps) -> (Tensor, Tensor)");
}
