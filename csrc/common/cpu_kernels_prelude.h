// Everything the CPU kernels (*.inc) use from outside, included by both
// cpu_kernels_*.cpp BEFORE any target pragma, so that these headers' inline
// functions and templates are compiled for the baseline only.
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "common/cpu_kernels.h"
#include "common/parallel.h"
#include "guided_filter/guided_math.h"
