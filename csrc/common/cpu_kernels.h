// CPU kernels compiled twice: for the portable baseline (x86-64-v2, the
// build's -march) and, on x86-64, for AVX2 + FMA, chosen at run time by a CPU
// check. The kernels live in csrc/*/*_kernels.inc and box_sum.inc, included
// into namespace mfif::base by cpu_kernels_base.cpp and into mfif::avx2 by
// cpu_kernels_avx2.cpp (the only code built for AVX2), so no symbol of one
// can stand in for the other's. MFIF_CPU_ISA=baseline in the environment
// forces the baseline kernels (read at every call, for tests and for
// comparing the two).
#pragma once
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#define MFIF_HAVE_AVX2_KERNELS 1
#endif

namespace mfif {

#define MFIF_DECLARE_CPU_KERNELS                                                                                   \
  template <typename T>                                                                                            \
  bool box_filter_planes(const T* in, T* out, int64_t planes, int64_t H, int64_t W, int64_t radius, bool normalize, \
                         bool adjoint);                                                                            \
  template <typename T, int CG>                                                                                    \
  bool guided_filter_kernel(const T* guide, const T* src, T* out, int64_t B, int64_t C, int64_t H, int64_t W,      \
                            int64_t radius, double eps);

namespace base {
MFIF_DECLARE_CPU_KERNELS
}
#if defined(MFIF_HAVE_AVX2_KERNELS)
namespace avx2 {
MFIF_DECLARE_CPU_KERNELS
}
#endif
#undef MFIF_DECLARE_CPU_KERNELS

// True when the AVX2 kernels run: the CPU has AVX2 and FMA and MFIF_CPU_ISA is
// not "baseline".
bool use_avx2_kernels();

}  // namespace mfif

// The kernel `name` (a function template specialisation) for this CPU.
#if defined(MFIF_HAVE_AVX2_KERNELS)
#define MFIF_CPU_KERNEL(...) (::mfif::use_avx2_kernels() ? &::mfif::avx2::__VA_ARGS__ : &::mfif::base::__VA_ARGS__)
#else
#define MFIF_CPU_KERNEL(...) (&::mfif::base::__VA_ARGS__)
#endif
