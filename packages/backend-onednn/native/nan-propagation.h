// NaN propagation as PyTorch has it: an output that depends on a NaN input is NaN. oneDNN's x86
// kernels compute max, min, ReLU and the input clamp of exp with the max/min instructions, which
// return their second operand when either is NaN, so a NaN can come out as a finite number (one
// NaN pixel then trained a network to NaN weights while its loss stayed finite). These helpers
// restore the NaNs after such primitives, or tell the caller that the rare slow path is needed.
//
// NaN tests read the bits as integers: a float comparison may raise the invalid-operation flag on
// NaN, which keeps GCC from vectorising a loop (-ftrapping-math); integer tests vectorise. The
// loops are compiled for AVX-512, AVX2 and the x86-64 baseline, the loader picking one for the
// processor (oneDNN's own kernels use the widest vectors there are; SSE2 alone made this ReLU
// about 30 % slower than oneDNN's on a ResNet's activations).
#pragma once

#include <omp.h>

#include <cstdint>
#include <cstring>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NAN_KERNEL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NAN_KERNEL_CLONES
#endif

namespace onednn_addon {
namespace {

inline uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// NaN: every exponent bit set and a non-zero mantissa, whatever the sign.
inline bool isNaN(float value) { return (floatBits(value) & 0x7fffffffu) > 0x7f800000u; }

// Below this many elements one thread runs the loop: a parallel region costs more.
constexpr int64_t kParallelScanSize = 65536;

// Runs rangeFunction(begin, end) over [0, size) split across the threads.
template <typename RangeFunction>
void parallelRanges(int64_t size, RangeFunction rangeFunction) {
  int threads = size > kParallelScanSize ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    int thread = omp_get_thread_num();
    int count = omp_get_num_threads();
    rangeFunction(size * thread / count, size * (thread + 1) / count);
  }
}

NAN_KERNEL_CLONES uint32_t countNaNBits(const float* x, int64_t begin, int64_t end) {
  uint32_t found = 0;
#pragma omp simd reduction(| : found)
  for (int64_t i = begin; i < end; ++i) found |= static_cast<uint32_t>((floatBits(x[i]) & 0x7fffffffu) > 0x7f800000u);
  return found;
}

NAN_KERNEL_CLONES void restoreNaNRange(const float* x, float* y, int64_t begin, int64_t end) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    uint32_t bits = floatBits(x[i]);
    uint32_t keep = static_cast<uint32_t>(0) - static_cast<uint32_t>((bits & 0x7fffffffu) > 0x7f800000u);
    uint32_t result = (bits & keep) | (floatBits(y[i]) & ~keep);
    std::memcpy(&y[i], &result, sizeof result);
  }
}

NAN_KERNEL_CLONES void clampRange(const float* x, float* y, int64_t begin, int64_t end, float low, float high) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    float value = x[i];
    float clamped = value > low ? value : low;
    clamped = clamped < high ? clamped : high;
    y[i] = isNaN(value) ? value : clamped;
  }
}

// Whether any of x[0..size) is NaN: one vectorised read.
inline bool anyNaN(const float* x, int64_t size) {
  uint32_t found = 0;
  parallelRanges(size, [&](int64_t begin, int64_t end) {
    uint32_t part = countNaNBits(x, begin, end);
#pragma omp atomic
    found |= part;
  });
  return found != 0;
}

// y[i] = x[i] wherever x[i] is NaN (after an element-wise primitive that may have dropped it).
inline void restoreNaN(const float* x, float* y, int64_t size) {
  parallelRanges(size, [&](int64_t begin, int64_t end) { restoreNaNRange(x, y, begin, end); });
}

// y = x clamped to [low, high], NaN kept (ReLU is low 0, high +infinity; ReLU6 high 6). One pass,
// as oneDNN's ReLU; a zero of either sign becomes +0 as with oneDNN's max(x, 0).
inline void clampKeepingNaN(const float* x, float* y, int64_t size, float low, float high) {
  parallelRanges(size, [&](int64_t begin, int64_t end) { clampRange(x, y, begin, end, low, high); });
}

}  // namespace
}  // namespace onednn_addon
