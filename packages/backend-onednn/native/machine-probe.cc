// The machine's own limits, measured where the kernels run: the peak rate of fused multiply-adds
// (independent chains of 512-bit or 256-bit FMAs on every thread, nothing loaded or stored) and
// the memory bandwidth of a streaming read and a streaming copy. A benchmark sets its kernels'
// GFLOP/s and GB/s against these, measured in the same run, since machines of one kind differ
// between sessions (with or without AVX-512, other clocks) and a shared machine's load changes
// what any of them reaches.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "context.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PROBE_X86 1
#endif

namespace onednn_addon {
namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Independent accumulator chains per thread: enough to cover the FMA latency (4-5 cycles) on two
// FMA pipes with room to spare, few enough to stay in registers (16 of 32 zmm / 16 ymm).
constexpr int kChains = 12;

#ifdef PROBE_X86
// Each call runs `iterations` rounds of kChains FMAs on 16-float vectors and returns a value that
// depends on every chain, so the compiler keeps them all.
__attribute__((target("avx512f"))) float fmaChains512(int64_t iterations, float seed) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + 0.001f * static_cast<float>(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 total = acc[0];
  for (int c = 1; c < kChains; ++c) total = _mm512_add_ps(total, acc[c]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  float sum = 0;
  for (float lane : lanes) sum += lane;
  return sum;
}

__attribute__((target("avx2,fma"))) float fmaChains256(int64_t iterations, float seed) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + 0.001f * static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 total = acc[0];
  for (int c = 1; c < kChains; ++c) total = _mm256_add_ps(total, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, total);
  float sum = 0;
  for (float lane : lanes) sum += lane;
  return sum;
}
#endif

// Sum of n floats in 32 independent lanes (no reassociation needed, so the compiler vectorises
// it for any width): a streaming read limited by memory, not by the latency of one add chain.
float streamSum(const float* values, size_t n) {
  float lanes[32] = {};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 32
    for (int j = 0; j < 32; ++j) lanes[j] += values[i + j];
  }
  for (; i < n; ++i) lanes[0] += values[i];
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

bool supports(int bits) {
#ifdef PROBE_X86
  if (bits == 512) return __builtin_cpu_supports("avx512f");
  if (bits == 256) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  (void)bits;
  return false;
}

// One timed parallel region: every thread runs the same number of rounds; the region's wall time
// includes waiting for the slowest thread, as a kernel's does.
double fmaRegion(int bits, int threads, int64_t iterations, volatile float* sink) {
  double started = seconds();
#pragma omp parallel num_threads(threads)
  {
    float value = 0;
#ifdef PROBE_X86
    value = bits == 512 ? fmaChains512(iterations, static_cast<float>(omp_get_thread_num()))
                        : fmaChains256(iterations, static_cast<float>(omp_get_thread_num()));
#endif
    sink[omp_get_thread_num()] = value;
  }
  return seconds() - started;
}

// fmaPeak(bits, threads, milliseconds) -> GFLOP/s (2 per lane per FMA), the best of repeated
// regions of about 20 ms each over the given time; 0 where the processor lacks that width.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  int bits = info[0].As<Napi::Number>().Int32Value();
  int threads = info[1].As<Napi::Number>().Int32Value();
  double budget = info[2].As<Napi::Number>().DoubleValue() / 1000;
  if (bits != 512 && bits != 256) throw Napi::RangeError::New(info.Env(), "fmaPeak: bits must be 512 or 256");
  if (threads < 1) throw Napi::RangeError::New(info.Env(), "fmaPeak: threads must be at least 1");
  if (!supports(bits)) return Napi::Number::New(info.Env(), 0);
  std::vector<float> sink(static_cast<size_t>(threads));
  const double lanes = bits / 32;
  // Calibrate to ~20 ms regions, then keep the fastest.
  int64_t iterations = 1 << 16;
  while (fmaRegion(bits, threads, iterations, sink.data()) < 0.005 && iterations < (int64_t{1} << 40)) iterations *= 2;
  iterations = std::max<int64_t>(1, iterations * 4);
  double best = 0, spent = 0;
  do {
    double elapsed = fmaRegion(bits, threads, iterations, sink.data());
    spent += elapsed;
    double flops = 2.0 * lanes * kChains * static_cast<double>(iterations) * threads;
    best = std::max(best, flops / elapsed / 1e9);
  } while (spent < budget);
  return Napi::Number::New(info.Env(), best);
}

// memoryBandwidth(threads, megabytes, milliseconds) -> { read, copy } in GB/s: the best of
// repeated streaming passes over buffers far larger than the caches (read: a sum; copy: bytes
// read plus bytes written).
Napi::Value MemoryBandwidth(const Napi::CallbackInfo& info) {
  int threads = info[0].As<Napi::Number>().Int32Value();
  int64_t megabytes = info[1].As<Napi::Number>().Int64Value();
  double budget = info[2].As<Napi::Number>().DoubleValue() / 1000;
  if (threads < 1 || megabytes < 1) throw Napi::RangeError::New(info.Env(), "memoryBandwidth: threads and megabytes must be at least 1");
  size_t count = static_cast<size_t>(megabytes) * (1 << 20) / sizeof(float);
  std::vector<float> source(count), destination(count);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) {
    source[i] = static_cast<float>(i & 1023);
    destination[i] = 0;
  }
  double bestRead = 0, bestCopy = 0, spent = 0;
  volatile float sink = 0;
  do {
    double started = seconds();
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      int thread = omp_get_thread_num(), all = omp_get_num_threads();
      size_t begin = count * thread / all, end = count * (thread + 1) / all;
      total += streamSum(source.data() + begin, end - begin);
    }
    double read = seconds() - started;
    sink = total;
    started = seconds();
#pragma omp parallel num_threads(threads)
    {
      int thread = omp_get_thread_num(), all = omp_get_num_threads();
      size_t begin = count * thread / all, end = count * (thread + 1) / all;
      std::memcpy(destination.data() + begin, source.data() + begin, (end - begin) * sizeof(float));
    }
    double copy = seconds() - started;
    spent += read + copy;
    bestRead = std::max(bestRead, count * sizeof(float) / read / 1e9);
    bestCopy = std::max(bestCopy, 2.0 * count * sizeof(float) / copy / 1e9);
  } while (spent < budget);
  (void)sink;
  auto result = Napi::Object::New(info.Env());
  result.Set("read", Napi::Number::New(info.Env(), bestRead));
  result.Set("copy", Napi::Number::New(info.Env(), bestCopy));
  return result;
}

}  // namespace

void registerMachineProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak, "fmaPeak"));
  exports.Set("memoryBandwidth", Napi::Function::New(env, MemoryBandwidth, "memoryBandwidth"));
}

}  // namespace onednn_addon
