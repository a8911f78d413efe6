// The CPU kernels for the portable baseline (the build's -march, x86-64-v2 by
// default): see cpu_kernels.h.
#include "common/cpu_kernels_prelude.h"

namespace mfif::base {
#include "box_filter/box_sum.inc"
#include "box_filter/box_filter_kernels.inc"
#include "guided_filter/guided_filter_kernels.inc"
#include "common/cpu_kernels_instances.inc"
}  // namespace mfif::base
