// Element-wise and reduction primitives: broadcasting binary ops, unary (eltwise) ops and their
// gradients, reductions over any set of axes, softmax over the last axis, per-channel scale and
// shift (batch norm with given statistics), and the n-ary sum that gradient accumulation uses.
#include <omp.h>

#include <cmath>
#include <limits>

#include "context.h"
#include "nan-propagation.h"

namespace onednn_addon {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using dt = memory::data_type;

memory::desc dense(const Dims& dims) { return memory::desc(dims, dt::f32, denseStrides(dims)); }

struct BinaryEntry : CachedEntry {
  dnnl::binary::primitive_desc descriptor;
  dnnl::binary primitive;
  memory::desc a, b;
};

algorithm binaryAlgorithm(int code, const Napi::Env& env) {
  switch (code) {
    case 0: return algorithm::binary_add;
    case 1: return algorithm::binary_sub;
    case 2: return algorithm::binary_mul;
    case 3: return algorithm::binary_div;
    case 4: return algorithm::binary_max;
    case 5: return algorithm::binary_min;
    case 6: return algorithm::binary_sub;  // squared difference: sub, then square as a post-op
    default: throw Napi::RangeError::New(env, "unknown binary operation code " + std::to_string(code));
  }
}

// out[i] = NaN wherever a[i] or the element of b broadcast to i is NaN (the slow path of max and
// min, taken only when an operand holds a NaN).
void propagateBinaryNaN(const float* a, const float* b, float* out, const Dims& dimsA, const Dims& dimsB) {
  size_t rank = dimsA.size();
  Dims bStrides(rank, 0);
  int64_t stride = 1;
  for (size_t axis = rank; axis-- > 0;) {
    bStrides[axis] = dimsB[axis] == 1 ? 0 : stride;
    stride *= dimsB[axis];
  }
  Dims index(rank, 0);
  int64_t total = product(dimsA), bOffset = 0;
  for (int64_t i = 0; i < total; ++i) {
    if (isNaN(a[i])) out[i] = a[i];
    else if (isNaN(b[bOffset])) out[i] = b[bOffset];
    for (size_t axis = rank; axis-- > 0;) {
      bOffset += bStrides[axis];
      if (++index[axis] < dimsA[axis]) break;
      bOffset -= bStrides[axis] * dimsA[axis];
      index[axis] = 0;
    }
  }
}

// binary(a, b, out, [operation, postOperation, rank, ...dimsA, ...dimsB])
// `a` has the output's shape; `b` broadcasts into it (each of its dims is 1 or equal). Post
// operations: 0 none, 1 negate, 2 reciprocal; they let the caller swap operands of sub and div
// when it is the first operand that broadcasts.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  auto p = intArray(info[3], "binary parameters");
  if (p.size() < 3) throw Napi::RangeError::New(info.Env(), "binary parameters are too short");
  int operation = static_cast<int>(p[0]);
  int postOperation = static_cast<int>(p[1]);
  int64_t rank = p[2];
  if (rank < 1 || rank > DNNL_MAX_NDIMS || static_cast<int64_t>(p.size()) != 3 + 2 * rank) {
    throw Napi::RangeError::New(info.Env(), "binary parameters do not match the rank");
  }
  Dims dimsA(p.begin() + 3, p.begin() + 3 + rank);
  Dims dimsB(p.begin() + 3 + rank, p.end());
  for (int64_t i = 0; i < rank; ++i) {
    if (dimsB[i] != 1 && dimsB[i] != dimsA[i]) {
      throw Napi::RangeError::New(info.Env(), "binary: the second operand must broadcast into the first");
    }
  }
  float* a = floatArray(info[0], "a", static_cast<size_t>(product(dimsA)));
  float* b = floatArray(info[1], "b", static_cast<size_t>(product(dimsB)));
  float* out = floatArray(info[2], "out", static_cast<size_t>(product(dimsA)));

  auto& ctx = context();
  KeyBuilder key("binary");
  key.add(operation).add(postOperation).add(dimsA).add(dimsB);
  auto* entry = ctx.cache.find<BinaryEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<BinaryEntry>();
    created->a = dense(dimsA);
    created->b = dense(dimsB);
    auto attr = ctx.attributes();
    dnnl::post_ops operations;
    if (operation == 6) operations.append_eltwise(1.0f, algorithm::eltwise_square, 0.0f, 0.0f);
    if (postOperation == 1) operations.append_eltwise(1.0f, algorithm::eltwise_linear, -1.0f, 0.0f);
    if (postOperation == 2) operations.append_eltwise(1.0f, algorithm::eltwise_pow, 1.0f, -1.0f);
    attr.set_post_ops(operations);
    dnnl::binary::desc desc(binaryAlgorithm(operation, info.Env()), created->a, created->b, created->a);
    created->descriptor = dnnl::binary::primitive_desc(desc, attr, ctx.engine);
    created->primitive = dnnl::binary(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_SRC_0, memory(entry->a, ctx.engine, a)},
                                           {DNNL_ARG_SRC_1, memory(entry->b, ctx.engine, b)},
                                           {DNNL_ARG_DST, memory(entry->a, ctx.engine, out)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  // oneDNN's max and min return the other operand where one is NaN; torch.maximum returns NaN.
  bool maxOrMin = operation == 4 || operation == 5;
  if (maxOrMin && (anyNaN(a, product(dimsA)) || anyNaN(b, product(dimsB)))) propagateBinaryNaN(a, b, out, dimsA, dimsB);
  return info.Env().Undefined();
}

// Unary operations, numbered as in src/native.ts (EltwiseOperation).
algorithm eltwiseAlgorithm(int code, const Napi::Env& env) {
  switch (code) {
    case 0: return algorithm::eltwise_relu;
    case 1: return algorithm::eltwise_tanh;
    case 2: return algorithm::eltwise_elu;
    case 3: return algorithm::eltwise_square;
    case 4: return algorithm::eltwise_abs;
    case 5: return algorithm::eltwise_sqrt;
    case 6: return algorithm::eltwise_linear;
    case 7: return algorithm::eltwise_clip;
    case 8: return algorithm::eltwise_logistic;
    case 9: return algorithm::eltwise_exp;
    case 10: return algorithm::eltwise_log;
    case 11: return algorithm::eltwise_pow;
    case 12: return algorithm::eltwise_soft_relu;
    case 13: return algorithm::eltwise_relu_use_dst_for_bwd;
    default: throw Napi::RangeError::New(env, "unknown element-wise operation code " + std::to_string(code));
  }
}

struct EltwiseEntry : CachedEntry {
  dnnl::eltwise_forward::primitive_desc descriptor;
  dnnl::eltwise_forward primitive;
  memory::desc data;
};

// eltwise(x, y, operation, alpha, beta). NaN inputs stay NaN: some of oneDNN's x86 kernels clamp
// their input with max/min first (exp does), which turns NaN into a finite value.
Napi::Value Eltwise(const Napi::CallbackInfo& info) {
  int64_t size = static_cast<int64_t>(floatLength(info[0], "x"));
  float* x = floatArray(info[0], "x", static_cast<size_t>(size));
  float* y = floatArray(info[1], "y", static_cast<size_t>(size));
  int operation = info[2].As<Napi::Number>().Int32Value();
  float alpha = info[3].As<Napi::Number>().FloatValue();
  float beta = info[4].As<Napi::Number>().FloatValue();
  if (size == 0) return info.Env().Undefined();
  auto& ctx = context();
  KeyBuilder key("eltwise");
  key.add(operation).add(alpha).add(beta).add(size);
  auto* entry = ctx.cache.find<EltwiseEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<EltwiseEntry>();
    created->data = dense({size});
    dnnl::eltwise_forward::desc desc(prop_kind::forward_inference, eltwiseAlgorithm(operation, info.Env()),
                                     created->data, alpha, beta);
    created->descriptor = dnnl::eltwise_forward::primitive_desc(desc, ctx.attributes(), ctx.engine);
    created->primitive = dnnl::eltwise_forward(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_SRC, memory(entry->data, ctx.engine, x)},
                                           {DNNL_ARG_DST, memory(entry->data, ctx.engine, y)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  if (x != y) restoreNaN(x, y, size);
  return info.Env().Undefined();
}

// clamp(x, y, low, high): y = min(max(x, low), high) with NaN kept, in one pass: ReLU (low 0, high
// +infinity) and ReLU6. oneDNN's ReLU and clip return 0 for NaN, PyTorch's return NaN.
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  int64_t size = static_cast<int64_t>(floatLength(info[0], "x"));
  const float* x = floatArray(info[0], "x", static_cast<size_t>(size));
  float* y = floatArray(info[1], "y", static_cast<size_t>(size));
  float low = info[2].As<Napi::Number>().FloatValue();
  float high = info[3].As<Napi::Number>().FloatValue();
  clampKeepingNaN(x, y, size, low, high);
  return info.Env().Undefined();
}

struct EltwiseBackwardEntry : CachedEntry {
  dnnl::eltwise_backward::primitive_desc descriptor;
  dnnl::eltwise_backward primitive;
  memory::desc data;
};

// eltwiseBackward(dy, data, dx, operation, alpha, beta): `data` is the forward input, or the
// forward output for the *_use_dst_for_bwd operations.
Napi::Value EltwiseBackward(const Napi::CallbackInfo& info) {
  int64_t size = static_cast<int64_t>(floatLength(info[0], "dy"));
  float* dy = floatArray(info[0], "dy", static_cast<size_t>(size));
  float* data = floatArray(info[1], "data", static_cast<size_t>(size));
  float* dx = floatArray(info[2], "dx", static_cast<size_t>(size));
  int operation = info[3].As<Napi::Number>().Int32Value();
  float alpha = info[4].As<Napi::Number>().FloatValue();
  float beta = info[5].As<Napi::Number>().FloatValue();
  if (size == 0) return info.Env().Undefined();
  auto& ctx = context();
  KeyBuilder key("eltwise_bwd");
  key.add(operation).add(alpha).add(beta).add(size);
  auto* entry = ctx.cache.find<EltwiseBackwardEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<EltwiseBackwardEntry>();
    created->data = dense({size});
    auto alg = eltwiseAlgorithm(operation, info.Env());
    auto attr = ctx.attributes();
    dnnl::eltwise_forward::desc forwardDesc(prop_kind::forward_training, alg, created->data, alpha, beta);
    dnnl::eltwise_forward::primitive_desc hint(forwardDesc, attr, ctx.engine);
    dnnl::eltwise_backward::desc desc(alg, created->data, created->data, alpha, beta);
    created->descriptor = dnnl::eltwise_backward::primitive_desc(desc, attr, ctx.engine, hint);
    created->primitive = dnnl::eltwise_backward(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  bool usesDestination = operation == 13;
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_DIFF_DST, memory(entry->data, ctx.engine, dy)},
                                           {usesDestination ? DNNL_ARG_DST : DNNL_ARG_SRC, memory(entry->data, ctx.engine, data)},
                                           {DNNL_ARG_DIFF_SRC, memory(entry->data, ctx.engine, dx)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  return info.Env().Undefined();
}

// step(x, y, alpha): 1 where x > 0, alpha elsewhere, NaN kept (TensorFlow.js semantics). oneDNN has
// no such primitive; the loop is trivially memory bound.
Napi::Value Step(const Napi::CallbackInfo& info) {
  int64_t size = static_cast<int64_t>(floatLength(info[0], "x"));
  const float* x = floatArray(info[0], "x", static_cast<size_t>(size));
  float* y = floatArray(info[1], "y", static_cast<size_t>(size));
  float alpha = info[2].As<Napi::Number>().FloatValue();
#pragma omp parallel for schedule(static) if (size > 32768)
  for (int64_t i = 0; i < size; ++i) {
    float value = x[i];
    y[i] = std::isnan(value) ? value : (value > 0.0f ? 1.0f : alpha);
  }
  return info.Env().Undefined();
}

struct ReductionEntry : CachedEntry {
  dnnl::reduction::primitive_desc descriptor;
  dnnl::reduction primitive;
  memory::desc source, destination;
};

algorithm reductionAlgorithm(int code, const Napi::Env& env) {
  switch (code) {
    case 0: return algorithm::reduction_sum;
    case 1: return algorithm::reduction_mean;
    case 2: return algorithm::reduction_max;
    case 3: return algorithm::reduction_min;
    case 4: return algorithm::reduction_mul;
    default: throw Napi::RangeError::New(env, "unknown reduction code " + std::to_string(code));
  }
}

// y[j] = NaN for every output whose reduced group holds a NaN (the slow path of max and min).
void propagateReductionNaN(const float* x, float* y, const Dims& dimsX, const Dims& dimsY) {
  size_t rank = dimsX.size();
  Dims yStrides(rank, 0);
  int64_t stride = 1;
  for (size_t axis = rank; axis-- > 0;) {
    yStrides[axis] = dimsY[axis] == 1 ? 0 : stride;
    stride *= dimsY[axis];
  }
  Dims index(rank, 0);
  int64_t total = product(dimsX), yOffset = 0;
  for (int64_t i = 0; i < total; ++i) {
    if (isNaN(x[i])) y[yOffset] = x[i];
    for (size_t axis = rank; axis-- > 0;) {
      yOffset += yStrides[axis];
      if (++index[axis] < dimsX[axis]) break;
      yOffset -= yStrides[axis] * dimsX[axis];
      index[axis] = 0;
    }
  }
}

// reduce(x, y, [operation, rank, ...dimsX, ...dimsY]); each dim of y is 1 (reduced) or equal.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  auto p = intArray(info[2], "reduction parameters");
  if (p.size() < 2) throw Napi::RangeError::New(info.Env(), "reduction parameters are too short");
  int operation = static_cast<int>(p[0]);
  int64_t rank = p[1];
  if (rank < 1 || rank > DNNL_MAX_NDIMS || static_cast<int64_t>(p.size()) != 2 + 2 * rank) {
    throw Napi::RangeError::New(info.Env(), "reduction parameters do not match the rank");
  }
  Dims dimsX(p.begin() + 2, p.begin() + 2 + rank);
  Dims dimsY(p.begin() + 2 + rank, p.end());
  float* x = floatArray(info[0], "x", static_cast<size_t>(product(dimsX)));
  float* y = floatArray(info[1], "y", static_cast<size_t>(product(dimsY)));
  auto& ctx = context();
  KeyBuilder key("reduce");
  key.add(operation).add(dimsX).add(dimsY);
  auto* entry = ctx.cache.find<ReductionEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<ReductionEntry>();
    created->source = dense(dimsX);
    created->destination = dense(dimsY);
    dnnl::reduction::desc desc(reductionAlgorithm(operation, info.Env()), created->source, created->destination, 0.0f,
                               0.0f);
    created->descriptor = dnnl::reduction::primitive_desc(desc, ctx.attributes(), ctx.engine);
    created->primitive = dnnl::reduction(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_SRC, memory(entry->source, ctx.engine, x)},
                                           {DNNL_ARG_DST, memory(entry->destination, ctx.engine, y)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  // oneDNN's max and min reductions skip NaN; torch.amax and torch.amin return it.
  if ((operation == 2 || operation == 3) && anyNaN(x, product(dimsX))) propagateReductionNaN(x, y, dimsX, dimsY);
  return info.Env().Undefined();
}

// Sums (or averages) the middle axis of an [outer, reduced, inner] view: any reduction over a run
// of adjacent axes, e.g. per-channel statistics of NHWC data (outer 1, inner C), global average
// pooling (inner C over H*W), bias gradients. oneDNN 2.6's reduction primitive runs a reference
// kernel for these layouts. Accumulates in double: a float running sum over ~10^5 values loses
// digits the cpu backend keeps.
Napi::Value SumAxes(const Napi::CallbackInfo& info) {
  int64_t outer = info[2].As<Napi::Number>().Int64Value();
  int64_t reduced = info[3].As<Napi::Number>().Int64Value();
  int64_t inner = info[4].As<Napi::Number>().Int64Value();
  bool mean = info[5].As<Napi::Boolean>().Value();
  const float* x = floatArray(info[0], "x", static_cast<size_t>(outer * reduced * inner));
  float* y = floatArray(info[1], "y", static_cast<size_t>(outer * inner));
  auto& ctx = context();
  int maximumThreads = omp_get_max_threads();
  int threads = outer * reduced * inner > 65536 ? maximumThreads : 1;
  double scale = mean ? 1.0 / static_cast<double>(reduced) : 1.0;
  auto* partial = static_cast<double*>(ctx.scratchpad.reserve(sizeof(double) * inner * threads));
  if (outer >= 2 * threads) {
    // Enough independent outputs: each thread owns whole [reduced, inner] blocks.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t o = 0; o < outer; ++o) {
      double* sums = partial + omp_get_thread_num() * inner;
      for (int64_t c = 0; c < inner; ++c) sums[c] = 0.0;
      const float* block = x + o * reduced * inner;
      for (int64_t r = 0; r < reduced; ++r) {
        const float* row = block + r * inner;
        for (int64_t c = 0; c < inner; ++c) sums[c] += row[c];
      }
      for (int64_t c = 0; c < inner; ++c) y[o * inner + c] = static_cast<float>(sums[c] * scale);
    }
    return info.Env().Undefined();
  }
  // Few outputs: split the reduced axis across threads and add the partial sums.
  for (int64_t o = 0; o < outer; ++o) {
    const float* block = x + o * reduced * inner;
#pragma omp parallel num_threads(threads)
    {
      int thread = omp_get_thread_num();
      int count = omp_get_num_threads();
      double* sums = partial + thread * inner;
      for (int64_t c = 0; c < inner; ++c) sums[c] = 0.0;
      int64_t begin = reduced * thread / count, end = reduced * (thread + 1) / count;
      for (int64_t r = begin; r < end; ++r) {
        const float* row = block + r * inner;
        for (int64_t c = 0; c < inner; ++c) sums[c] += row[c];
      }
    }
    for (int64_t c = 0; c < inner; ++c) {
      double total = 0.0;
      for (int t = 0; t < threads; ++t) total += partial[t * inner + c];
      y[o * inner + c] = static_cast<float>(total * scale);
    }
  }
  return info.Env().Undefined();
}

struct SoftmaxEntry : CachedEntry {
  dnnl::softmax_forward::primitive_desc descriptor;
  dnnl::softmax_forward primitive;
  memory::desc data;
};

// softmax(x, y, rows, columns): softmax over the last axis. A row holding NaN or +infinity is all
// NaN, as in PyTorch (its max, then exp(x - max), turn every entry NaN); oneDNN's max and exp drop
// the NaN and leave the rest of the row finite.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  int64_t rows = info[2].As<Napi::Number>().Int64Value();
  int64_t columns = info[3].As<Napi::Number>().Int64Value();
  float* x = floatArray(info[0], "x", static_cast<size_t>(rows * columns));
  float* y = floatArray(info[1], "y", static_cast<size_t>(rows * columns));
  auto& ctx = context();
  KeyBuilder key("softmax");
  key.add(rows).add(columns);
  auto* entry = ctx.cache.find<SoftmaxEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<SoftmaxEntry>();
    created->data = dense({rows, columns});
    dnnl::softmax_forward::desc desc(prop_kind::forward_inference, created->data, 1);
    created->descriptor = dnnl::softmax_forward::primitive_desc(desc, ctx.attributes(), ctx.engine);
    created->primitive = dnnl::softmax_forward(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_SRC, memory(entry->data, ctx.engine, x)},
                                           {DNNL_ARG_DST, memory(entry->data, ctx.engine, y)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  const float infinity = std::numeric_limits<float>::infinity();
  for (int64_t row = 0; row < rows; ++row) {
    const float* in = x + row * columns;
    bool poisoned = false;
    for (int64_t column = 0; column < columns; ++column) poisoned |= isNaN(in[column]) || in[column] == infinity;
    if (!poisoned) continue;
    float* out = y + row * columns;
    for (int64_t column = 0; column < columns; ++column) out[column] = std::numeric_limits<float>::quiet_NaN();
  }
  return info.Env().Undefined();
}

struct ScaleShiftEntry : CachedEntry {
  dnnl::binary::primitive_desc descriptor;
  dnnl::binary primitive;
  memory::desc data, channel;
};

// scaleShift(x, scale, shift, y, rows, channels): y = x * scale + shift per channel of a
// [rows, channels] view, in one pass (a binary multiply with the add fused as a post-op). This is
// batch norm with given statistics once scale and shift are folded on the caller's side; oneDNN
// 2.6's own batch-norm primitive runs a reference kernel for this 2-D layout.
Napi::Value ScaleShift(const Napi::CallbackInfo& info) {
  int64_t rows = info[4].As<Napi::Number>().Int64Value();
  int64_t channels = info[5].As<Napi::Number>().Int64Value();
  size_t size = static_cast<size_t>(rows * channels);
  float* x = floatArray(info[0], "x", size);
  float* scale = floatArray(info[1], "scale", static_cast<size_t>(channels));
  float* shift = floatArray(info[2], "shift", static_cast<size_t>(channels));
  float* y = floatArray(info[3], "y", size);
  if (size == 0) return info.Env().Undefined();
  auto& ctx = context();
  KeyBuilder key("scale_shift");
  key.add(rows).add(channels);
  auto* entry = ctx.cache.find<ScaleShiftEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<ScaleShiftEntry>();
    created->data = dense({rows, channels});
    created->channel = dense({1, channels});
    auto attr = ctx.attributes();
    dnnl::post_ops operations;
    operations.append_binary(algorithm::binary_add, created->channel);
    attr.set_post_ops(operations);
    dnnl::binary::desc desc(algorithm::binary_mul, created->data, created->channel, created->data);
    created->descriptor = dnnl::binary::primitive_desc(desc, attr, ctx.engine);
    created->primitive = dnnl::binary(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_SRC_0, memory(entry->data, ctx.engine, x)},
                                           {DNNL_ARG_SRC_1, memory(entry->channel, ctx.engine, scale)},
                                           {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, memory(entry->channel, ctx.engine, shift)},
                                           {DNNL_ARG_DST, memory(entry->data, ctx.engine, y)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  return info.Env().Undefined();
}

struct SumEntry : CachedEntry {
  dnnl::sum::primitive_desc descriptor;
  dnnl::sum primitive;
  memory::desc data;
};

// addN([x0, x1, ...], y): element-wise sum of same-shaped tensors.
Napi::Value AddN(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "addN inputs must be an array of Float32Arrays");
  auto inputs = info[0].As<Napi::Array>();
  uint32_t count = inputs.Length();
  if (count < 1) throw Napi::RangeError::New(info.Env(), "addN needs at least one input");
  int64_t size = static_cast<int64_t>(floatLength(info[1], "y"));
  float* y = floatArray(info[1], "y", static_cast<size_t>(size));
  std::vector<float*> sources(count);
  for (uint32_t i = 0; i < count; ++i) sources[i] = floatArray(inputs.Get(i), "addN input", static_cast<size_t>(size));
  if (size == 0) return info.Env().Undefined();
  auto& ctx = context();
  KeyBuilder key("sum");
  key.add(static_cast<int64_t>(count)).add(size);
  auto* entry = ctx.cache.find<SumEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<SumEntry>();
    created->data = dense({size});
    std::vector<float> scales(count, 1.0f);
    std::vector<memory::desc> descs(count, created->data);
    created->descriptor = dnnl::sum::primitive_desc(created->data, scales, descs, ctx.engine, ctx.attributes());
    created->primitive = dnnl::sum(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  std::unordered_map<int, memory> arguments{
      {DNNL_ARG_DST, memory(entry->data, ctx.engine, y)},
      {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
  };
  for (uint32_t i = 0; i < count; ++i) {
    arguments.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), memory(entry->data, ctx.engine, sources[i]));
  }
  entry->primitive.execute(ctx.stream, arguments);
  ctx.stream.wait();
  return info.Env().Undefined();
}

}  // namespace

void registerElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("eltwise", Napi::Function::New(env, Eltwise, "eltwise"));
  exports.Set("clamp", Napi::Function::New(env, Clamp, "clamp"));
  exports.Set("eltwiseBackward", Napi::Function::New(env, EltwiseBackward, "eltwiseBackward"));
  exports.Set("step", Napi::Function::New(env, Step, "step"));
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("sumAxes", Napi::Function::New(env, SumAxes, "sumAxes"));
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("scaleShift", Napi::Function::New(env, ScaleShift, "scaleShift"));
  exports.Set("addN", Napi::Function::New(env, AddN, "addN"));
}

}  // namespace onednn_addon
