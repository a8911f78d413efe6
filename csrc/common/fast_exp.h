// Constants and the expm1 polynomial of the vectorisable exp used by the
// patch_mean softmax and the NPS loss (libm's exp/expm1 are scalar calls).
#pragma once
#include <cstdint>
#include <type_traits>

#include "common/host_device.h"

namespace mfif::fast_exp {

template <typename T>
struct ExpConsts;

template <>
struct ExpConsts<float> {
  using Bits = int32_t;
  static constexpr float zmin = -87.0f;           // 2^n stays a normal float
  static constexpr Bits amax_bits = 0x42AE0000;  // 87.0f: 2^n stays a normal float
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693115234375f;        // 12 bits: n * ln2_hi is exact
  static constexpr float ln2_lo = 3.19461849453094e-05f;  // ln2 - ln2_hi
  static constexpr float round_magic = 12582912.0f;       // 1.5 * 2^23
  static constexpr Bits magic_bits = 0x4B400000;
  static constexpr int mant_bits = 23;
  static constexpr Bits bias = 127;
  static constexpr float max_finite = 3.40282347e+38f;
};

template <>
struct ExpConsts<double> {
  using Bits = int64_t;
  static constexpr double zmin = -708.0;
  static constexpr Bits amax_bits = 0x4086200000000000LL;  // 708.0
  static constexpr double log2e = 1.4426950408889634;
  static constexpr double ln2_hi = 0.6931471805601177;       // 40 bits
  static constexpr double ln2_lo = -1.7239444525614835e-13;  // ln2 - ln2_hi
  static constexpr double round_magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr Bits magic_bits = 0x4338000000000000LL;
  static constexpr int mant_bits = 52;
  static constexpr Bits bias = 1023;
  static constexpr double max_finite = 1.7976931348623157e+308;
};

// exp(r) - 1 for |r| <= ln2/2: Taylor polynomial of degree 7 (float), 13 (double).
template <typename T>
MFIF_HOST_DEVICE T expm1_poly(T r) {
  if constexpr (std::is_same_v<T, float>) {
    T p = T(1.0 / 5040);
    p = p * r + T(1.0 / 720);
    p = p * r + T(1.0 / 120);
    p = p * r + T(1.0 / 24);
    p = p * r + T(1.0 / 6);
    p = p * r + T(0.5);
    p = p * r + T(1);
    return p * r;
  } else {
    T p = T(1.0 / 6227020800.0);
    p = p * r + T(1.0 / 479001600.0);
    p = p * r + T(1.0 / 39916800.0);
    p = p * r + T(1.0 / 3628800.0);
    p = p * r + T(1.0 / 362880.0);
    p = p * r + T(1.0 / 40320.0);
    p = p * r + T(1.0 / 5040.0);
    p = p * r + T(1.0 / 720.0);
    p = p * r + T(1.0 / 120.0);
    p = p * r + T(1.0 / 24.0);
    p = p * r + T(1.0 / 6.0);
    p = p * r + T(0.5);
    p = p * r + T(1);
    return p * r;
  }
}

}  // namespace mfif::fast_exp
