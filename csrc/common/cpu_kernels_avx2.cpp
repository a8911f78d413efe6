// The CPU kernels for AVX2 + FMA (x86-64 only): the same sources as
// cpu_kernels_base.cpp, in namespace mfif::avx2, every function defined here
// compiled for AVX2 + FMA by a target pragma; everything included before the
// pragma stays baseline. Run only where use_avx2_kernels() says so.
#include "common/cpu_kernels_prelude.h"

#if defined(MFIF_HAVE_AVX2_KERNELS)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define MFIF_KERNELS_AVX2 1

namespace mfif::avx2 {
#include "box_filter/box_sum.inc"
#include "box_filter/box_filter_kernels.inc"
#include "guided_filter/guided_filter_kernels.inc"
#include "common/cpu_kernels_instances.inc"
}  // namespace mfif::avx2

#undef MFIF_KERNELS_AVX2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // MFIF_HAVE_AVX2_KERNELS
