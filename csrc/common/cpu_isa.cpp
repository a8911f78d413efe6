// Run-time choice of the CPU kernels (see cpu_kernels.h) and the private op
// mfif::_cpu_isa that reports it.
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/cpu_kernels.h"

namespace mfif {

bool use_avx2_kernels() {
#if defined(MFIF_HAVE_AVX2_KERNELS)
  static const bool cpu_has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const char* forced = std::getenv("MFIF_CPU_ISA");
  return cpu_has_avx2 && !(forced && std::strcmp(forced, "baseline") == 0);
#else
  return false;
#endif
}

std::string cpu_isa_name() { return use_avx2_kernels() ? "avx2" : "baseline"; }

}  // namespace mfif
