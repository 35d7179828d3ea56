// Training-mode batch normalisation over every axis but the last (channels-last data): the forward
// computes the batch statistics and normalises, the backward returns the input, scale and shift
// gradients, one native call each. TensorFlow.js expresses the same thing as a dozen full-size
// element-wise ops per layer and direction.
//
// The per-channel reductions (mean, variance; the sums of dy and dy * (x - mean)) run over
// batch x height x width elements (16 384 in a ResNet-32 stage at batch 16, 131 072 at 128) and
// are accumulated in double precision, as PyTorch's CPU batch norm does. oneDNN's batch norm
// accumulates them in float32: on the golden fixtures that put a plain ResNet-32 step 53 of 170
// tensors more than 1e-4 from the float64 step (PyTorch float32: none), and the error in each
// layer's statistics moves every ReLU input near zero below it. The element-wise passes stay in
// float32 with per-channel coefficients computed in double.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "context.h"

// The row loops below are compiled twice, for AVX2 and for the x86-64 baseline (SSE2), and the
// loader picks one for the processor: the build must run anywhere, and SSE2 holds only two
// doubles per register, which made the double-precision sums ~6 % of a ResNet-32 step slower than
// oneDNN's float32 kernel. No FMA clone: contracting a * b + c would change the rounding between
// machines.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDE_VECTORS __attribute__((target_clones("avx2", "default")))
#else
#define WIDE_VECTORS
#endif

namespace onednn_addon {
namespace {

// Per-thread double sums of two per-channel quantities over rows [0, rows) of channels-last data,
// combined in thread order (deterministic for a given thread count). `accumulate(begin, end,
// first, second)` adds the contributions of rows [begin, end).
template <typename RowFunction>
void channelSums(int64_t rows, int64_t channels, std::vector<double>& first, std::vector<double>& second, RowFunction accumulate) {
  // One thread below ~64k elements: a parallel region costs more than the sums.
  int threads = rows * channels > 65536 ? omp_get_max_threads() : 1;
  std::vector<double> partial(static_cast<size_t>(2 * channels * threads), 0.0);
#pragma omp parallel num_threads(threads)
  {
    int thread = omp_get_thread_num();
    int count = omp_get_num_threads();
    double* a = partial.data() + 2 * channels * thread;
    double* b = a + channels;
    int64_t begin = rows * thread / count, end = rows * (thread + 1) / count;
    accumulate(begin, end, a, b);
  }
  first.assign(static_cast<size_t>(channels), 0.0);
  second.assign(static_cast<size_t>(channels), 0.0);
  for (int t = 0; t < threads; ++t) {
    const double* a = partial.data() + 2 * channels * t;
    const double* b = a + channels;
    for (int64_t c = 0; c < channels; ++c) {
      first[c] += a[c];
      second[c] += b[c];
    }
  }
}

// The Float32Array arguments of one call: full-size channels-last data or per-channel vectors.
struct NormalizationArguments {
  const Napi::CallbackInfo& info;
  int64_t rows, channels;
  float* data(int index, const char* name) const { return floatArray(info[index], name, static_cast<size_t>(rows * channels)); }
  float* perChannel(int index, const char* name) const { return floatArray(info[index], name, static_cast<size_t>(channels)); }
};

// Adds, over rows [begin, end), d = x[r][c] - origin[c] to sum[c] and d * d to squares[c].
WIDE_VECTORS void addShiftedSums(const float* x, int64_t begin, int64_t end, int64_t channels, const float* origin, double* sum,
                                 double* squares) {
  for (int64_t r = begin; r < end; ++r) {
    const float* row = x + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      double d = static_cast<double>(row[c]) - static_cast<double>(origin[c]);
      sum[c] += d;
      squares[c] += d * d;
    }
  }
}

// Adds, over rows [begin, end), dy[r][c] to sum[c] and dy[r][c] * (x[r][c] - mean[c]) to centered[c].
WIDE_VECTORS void addGradientSums(const float* dy, const float* x, int64_t begin, int64_t end, int64_t channels, const float* mean,
                                  double* sum, double* centered) {
  for (int64_t r = begin; r < end; ++r) {
    const float* g = dy + r * channels;
    const float* row = x + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      sum[c] += static_cast<double>(g[c]);
      centered[c] += static_cast<double>(g[c]) * (static_cast<double>(row[c]) - static_cast<double>(mean[c]));
    }
  }
}

// value > 0 for a number, by its bits: a float is positive exactly when its bits read as a
// positive int32. A float comparison, which may raise an invalid-operation flag on NaN, keeps GCC
// from vectorising these loops (-ftrapping-math); an integer one does not. (NaN reads as
// positive.)
inline bool positive(float value) { return __builtin_bit_cast(int32_t, value) > 0; }

// The ReLU's derivative from its output, 1 or 0, multiplied in as the separate kernels do
// (dy * step(output)): the same values, signed zeros and NaN included. In integer arithmetic
// without a comparison, which GCC does not turn into a vector select inside these loops: the sign
// bit, or a zero (bits - 1 wraps to the sign bit), makes the output not positive.
inline float step(float output) {
  uint32_t bits = __builtin_bit_cast(uint32_t, output);
  uint32_t notPositive = ((bits - 1u) >> 31) | (bits >> 31);
  return static_cast<float>(static_cast<int32_t>(1u - notPositive));
}

// addGradientSums for the gradient that reaches a batch norm through a ReLU on its output (with
// the block's residual added before the ReLU or not): g = dy where output > 0, else 0. Writes g to
// `masked` when it is not null (the residual's own gradient).
WIDE_VECTORS void addMaskedGradientSums(const float* dy, const float* output, const float* x, int64_t begin, int64_t end,
                                        int64_t channels, const float* mean, double* sum, double* centered, float* masked) {
  // Two copies of the loop, so that neither has a conditional store and both vectorise (a branch
  // on the ReLU's sign per element would be mispredicted half the time).
  for (int64_t r = begin; r < end; ++r) {
    const float* d = dy + r * channels;
    const float* o = output + r * channels;
    const float* row = x + r * channels;
    if (masked != nullptr) {
      float* m = masked + r * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        float g = d[c] * step(o[c]);
        m[c] = g;
        sum[c] += static_cast<double>(g);
        centered[c] += static_cast<double>(g) * (static_cast<double>(row[c]) - static_cast<double>(mean[c]));
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        float g = d[c] * step(o[c]);
        sum[c] += static_cast<double>(g);
        centered[c] += static_cast<double>(g) * (static_cast<double>(row[c]) - static_cast<double>(mean[c]));
      }
    }
  }
}

// out[r][c] = g * multiplier[c] + (other[r][c] - center[c]) * slope[c] + offset[c] with
// g = dy[r][c] where output[r][c] > 0, else 0 (the ReLU's gradient, never stored).
WIDE_VECTORS void maskedAffineRows(int64_t begin, int64_t end, int64_t channels, const float* dy, const float* output,
                                   const float* multiplier, const float* other, const float* center, const float* slope,
                                   const float* offset, float* out) {
  for (int64_t r = begin; r < end; ++r) {
    const float* d = dy + r * channels;
    const float* o = output + r * channels;
    const float* x = other + r * channels;
    float* y = out + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      float g = d[c] * step(o[c]);
      y[c] = g * multiplier[c] + (x[c] - center[c]) * slope[c] + offset[c];
    }
  }
}

// The forward's normalisation with what follows it in a ResNet block: out = max(0, (x - center) *
// slope + offset [+ residual]). The same operations in the same order as the separate affine, add
// and ReLU kernels, so the values are the same.
WIDE_VECTORS void affineResidualReluRows(int64_t begin, int64_t end, int64_t channels, const float* other, const float* center,
                                         const float* slope, const float* offset, const float* residual, float* out) {
  for (int64_t r = begin; r < end; ++r) {
    const float* x = other + r * channels;
    float* y = out + r * channels;
    if (residual != nullptr) {
      const float* s = residual + r * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        float v = (x[c] - center[c]) * slope[c] + offset[c];
        v = v + s[c];
        y[c] = positive(v) ? v : 0.0f;
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) {
        float v = (x[c] - center[c]) * slope[c] + offset[c];
        y[c] = positive(v) ? v : 0.0f;
      }
    }
  }
}

// Runs rows(begin, end) over all rows, in parallel over row ranges when the data is large enough
// for a parallel region to pay.
template <typename RowFunction>
void parallelRows(int64_t rows, int64_t channels, RowFunction rowsFunction) {
  int threads = rows * channels > 65536 ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    int thread = omp_get_thread_num();
    int count = omp_get_num_threads();
    rowsFunction(rows * thread / count, rows * (thread + 1) / count);
  }
}

// out[r][c] = in[r][c] * multiplier[c] + (other[r][c] - center[c]) * slope[c] + offset[c] over
// rows [begin, end); `in` may be null (then that term is absent).
WIDE_VECTORS void affineRows(int64_t begin, int64_t end, int64_t channels, const float* in, const float* multiplier, const float* other,
                             const float* center, const float* slope, const float* offset, float* out) {
  for (int64_t r = begin; r < end; ++r) {
    const float* o = other + r * channels;
    float* y = out + r * channels;
    if (in != nullptr) {
      const float* x = in + r * channels;
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) y[c] = x[c] * multiplier[c] + (o[c] - center[c]) * slope[c] + offset[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < channels; ++c) y[c] = (o[c] - center[c]) * slope[c] + offset[c];
    }
  }
}

// affineRows over all rows, in parallel over row ranges.
void perChannelAffine(int64_t rows, int64_t channels, const float* in, const float* multiplier, const float* other,
                      const float* center, const float* slope, const float* offset, float* out) {
  parallelRows(rows, channels, [&](int64_t begin, int64_t end) {
    affineRows(begin, end, channels, in, multiplier, other, center, slope, offset, out);
  });
}

// batchNormTrainingForward(x, scale, shift, y, mean, variance, rows, channels, epsilon[, residual,
// relu]): mean and (biased) variance are outputs. With `relu`, y = max(0, normalised [+ residual])
// in the same pass (a ResNet block's batch norm, shortcut sum and ReLU); `residual` (null or a
// full-size array) needs `relu`.
Napi::Value BatchNormTrainingForward(const Napi::CallbackInfo& info) {
  NormalizationArguments arguments{info, info[6].As<Napi::Number>().Int64Value(), info[7].As<Napi::Number>().Int64Value()};
  int64_t rows = arguments.rows, channels = arguments.channels;
  double epsilon = info[8].As<Napi::Number>().DoubleValue();
  const float *x = arguments.data(0, "x"), *scale = arguments.perChannel(1, "scale"), *shift = arguments.perChannel(2, "shift");
  float *y = arguments.data(3, "y"), *mean = arguments.perChannel(4, "mean"), *variance = arguments.perChannel(5, "variance");
  const float* residual = optionalFloatArray(info[9], "residual", static_cast<size_t>(rows * channels));
  bool relu = info.Length() > 10 && info[10].ToBoolean().Value();
  if (residual != nullptr && !relu) throw Napi::TypeError::New(info.Env(), "batchNormTrainingForward: a residual needs relu");
  // Sums of x - x[0] and its square: shifting by a sample keeps the one-pass variance exact to
  // double rounding however far the mean is from zero.
  std::vector<double> sum, squares;
  channelSums(rows, channels, sum, squares,
              [&](int64_t begin, int64_t end, double* s, double* q) { addShiftedSums(x, begin, end, channels, x, s, q); });
  std::vector<float> slope(static_cast<size_t>(channels)), center(static_cast<size_t>(channels));
  double n = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    double meanShift = sum[c] / n;
    double biased = squares[c] / n - meanShift * meanShift;
    if (biased < 0) biased = 0;
    double exactMean = static_cast<double>(x[c]) + meanShift;
    mean[c] = static_cast<float>(exactMean);
    variance[c] = static_cast<float>(biased);
    center[c] = mean[c];
    slope[c] = static_cast<float>(static_cast<double>(scale[c]) / std::sqrt(biased + epsilon));
  }
  if (relu) {
    parallelRows(rows, channels, [&](int64_t begin, int64_t end) {
      affineResidualReluRows(begin, end, channels, x, center.data(), slope.data(), shift, residual, y);
    });
  } else {
    perChannelAffine(rows, channels, nullptr, nullptr, x, center.data(), slope.data(), shift, y);
  }
  return info.Env().Undefined();
}

// batchNormTrainingBackward(dy, x, scale, mean, variance, dx, dScale, dShift, rows, channels,
// epsilon[, output, dResidual]): with `output` (the ReLU's output that followed the batch norm in
// the forward), dy is the gradient of that output and the ReLU's gradient is applied on the way;
// `dResidual` (needs `output`) receives it, the gradient of the residual summed before the ReLU.
Napi::Value BatchNormTrainingBackward(const Napi::CallbackInfo& info) {
  NormalizationArguments arguments{info, info[8].As<Napi::Number>().Int64Value(), info[9].As<Napi::Number>().Int64Value()};
  int64_t rows = arguments.rows, channels = arguments.channels;
  double epsilon = info[10].As<Napi::Number>().DoubleValue();
  const float *dy = arguments.data(0, "dy"), *x = arguments.data(1, "x"), *scale = arguments.perChannel(2, "scale");
  const float *mean = arguments.perChannel(3, "mean"), *variance = arguments.perChannel(4, "variance");
  float *dx = arguments.data(5, "dx"), *dScale = arguments.perChannel(6, "dScale"), *dShift = arguments.perChannel(7, "dShift");
  const float* output = info.Length() > 11 ? optionalFloatArray(info[11], "output", static_cast<size_t>(rows * channels)) : nullptr;
  float* dResidual = info.Length() > 12 ? optionalFloatArray(info[12], "dResidual", static_cast<size_t>(rows * channels)) : nullptr;
  if (dResidual != nullptr && output == nullptr) throw Napi::TypeError::New(info.Env(), "batchNormTrainingBackward: dResidual needs output");
  std::vector<double> sumDy, sumDyCentered;
  if (output == nullptr) {
    channelSums(rows, channels, sumDy, sumDyCentered,
                [&](int64_t begin, int64_t end, double* s, double* p) { addGradientSums(dy, x, begin, end, channels, mean, s, p); });
  } else {
    channelSums(rows, channels, sumDy, sumDyCentered, [&](int64_t begin, int64_t end, double* s, double* p) {
      addMaskedGradientSums(dy, output, x, begin, end, channels, mean, s, p, dResidual);
    });
  }
  // dx = scale * inverseStd * (dy - mean(dy) - (x - mean) * inverseStd^2 * mean(dy * (x - mean)))
  std::vector<float> multiplier(static_cast<size_t>(channels)), slope(static_cast<size_t>(channels)), offset(static_cast<size_t>(channels));
  double n = static_cast<double>(rows);
  for (int64_t c = 0; c < channels; ++c) {
    double inverseStd = 1.0 / std::sqrt(static_cast<double>(variance[c]) + epsilon);
    double gain = static_cast<double>(scale[c]) * inverseStd;
    dScale[c] = static_cast<float>(sumDyCentered[c] * inverseStd);
    dShift[c] = static_cast<float>(sumDy[c]);
    multiplier[c] = static_cast<float>(gain);
    slope[c] = static_cast<float>(-gain * inverseStd * inverseStd * sumDyCentered[c] / n);
    offset[c] = static_cast<float>(-gain * sumDy[c] / n);
  }
  if (output == nullptr || dResidual != nullptr) {
    // The masked gradient is stored (dResidual) when the residual needs it: read it back.
    perChannelAffine(rows, channels, output == nullptr ? dy : dResidual, multiplier.data(), x, mean, slope.data(), offset.data(), dx);
  } else {
    parallelRows(rows, channels, [&](int64_t begin, int64_t end) {
      maskedAffineRows(begin, end, channels, dy, output, multiplier.data(), x, mean, slope.data(), offset.data(), dx);
    });
  }
  return info.Env().Undefined();
}

}  // namespace

void registerNormalization(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNormTrainingForward", Napi::Function::New(env, BatchNormTrainingForward, "batchNormTrainingForward"));
  exports.Set("batchNormTrainingBackward", Napi::Function::New(env, BatchNormTrainingBackward, "batchNormTrainingBackward"));
}

}  // namespace onednn_addon
