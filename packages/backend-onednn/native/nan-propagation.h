// NaN propagation as PyTorch has it: an output that depends on a NaN input is NaN. oneDNN's x86
// kernels compute max, min, ReLU and the input clamp of exp with the max/min instructions, which
// return their second operand when either is NaN, so a NaN can come out as a finite number (one
// NaN pixel then trained a network to NaN weights while its loss stayed finite). These helpers
// restore the NaNs after such primitives, or tell the caller that the rare slow path is needed.
//
// NaN tests read the bits as integers: a float comparison may raise the invalid-operation flag on
// NaN, which keeps GCC from vectorising a loop (-ftrapping-math); integer tests vectorise.
#pragma once

#include <omp.h>

#include <cstdint>
#include <cstring>

namespace onednn_addon {

inline uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// NaN: every exponent bit set and a non-zero mantissa, whatever the sign.
inline bool isNaN(float value) { return (floatBits(value) & 0x7fffffffu) > 0x7f800000u; }

// Below this many elements one thread scans: a parallel region costs more.
constexpr int64_t kParallelScanSize = 65536;

// Whether any of x[0..size) is NaN: one vectorised read.
inline bool anyNaN(const float* x, int64_t size) {
  uint32_t found = 0;
#pragma omp parallel for simd reduction(| : found) schedule(static) if (size > kParallelScanSize)
  for (int64_t i = 0; i < size; ++i) found |= static_cast<uint32_t>((floatBits(x[i]) & 0x7fffffffu) > 0x7f800000u);
  return found != 0;
}

// y[i] = x[i] wherever x[i] is NaN (after an element-wise primitive that may have dropped it).
inline void restoreNaN(const float* x, float* y, int64_t size) {
#pragma omp parallel for simd schedule(static) if (size > kParallelScanSize)
  for (int64_t i = 0; i < size; ++i) {
    uint32_t bits = floatBits(x[i]);
    uint32_t keep = static_cast<uint32_t>(0) - static_cast<uint32_t>((bits & 0x7fffffffu) > 0x7f800000u);
    uint32_t result = (bits & keep) | (floatBits(y[i]) & ~keep);
    std::memcpy(&y[i], &result, sizeof result);
  }
}

// y = x clamped to [low, high], NaN kept (ReLU is low 0, high +infinity; ReLU6 high 6). One pass,
// as oneDNN's ReLU; a zero of either sign becomes +0 as with oneDNN's max(x, 0).
inline void clampKeepingNaN(const float* x, float* y, int64_t size, float low, float high) {
#pragma omp parallel for simd schedule(static) if (size > kParallelScanSize)
  for (int64_t i = 0; i < size; ++i) {
    float value = x[i];
    float clamped = value > low ? value : low;
    clamped = clamped < high ? clamped : high;
    y[i] = isNaN(value) ? value : clamped;
  }
}

}  // namespace onednn_addon
