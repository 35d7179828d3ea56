// Data movement as oneDNN reorders between strided views: transpose (permuted strides), strided
// slice (scaled strides and an offset pointer) and constant padding (a reorder into a sub-memory
// of the filled output).
#include <omp.h>

#include <algorithm>

#include "context.h"

namespace onednn_addon {
namespace {

using dt = memory::data_type;

struct ReorderEntry : CachedEntry {
  dnnl::reorder::primitive_desc descriptor;
  dnnl::reorder primitive;
  memory::desc source, destination;
};

ReorderEntry* reorderFor(const std::string& key, const memory::desc& source, const memory::desc& destination) {
  auto& ctx = context();
  auto* entry = ctx.cache.find<ReorderEntry>(key);
  if (entry != nullptr) return entry;
  auto created = std::make_unique<ReorderEntry>();
  created->source = source;
  created->destination = destination;
  created->descriptor = dnnl::reorder::primitive_desc(ctx.engine, source, ctx.engine, destination, ctx.attributes());
  created->primitive = dnnl::reorder(created->descriptor);
  return ctx.cache.insert(key, std::move(created));
}

void runReorder(ReorderEntry* entry, const float* source, float* destination) {
  auto& ctx = context();
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_FROM, memory(entry->source, ctx.engine, const_cast<float*>(source))},
                                           {DNNL_ARG_TO, memory(entry->destination, ctx.engine, destination)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
}

void checkRank(const Napi::Env& env, int64_t rank, size_t length, size_t expected) {
  if (rank < 1 || rank > DNNL_MAX_NDIMS || length != expected) {
    throw Napi::RangeError::New(env, "layout parameters do not match the rank");
  }
}

// transpose(x, y, [rank, ...dimsX, ...permutation]): y's axis i is x's axis permutation[i].
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  auto p = intArray(info[2], "transpose parameters");
  int64_t rank = p.empty() ? 0 : p[0];
  checkRank(info.Env(), rank, p.size(), static_cast<size_t>(1 + 2 * rank));
  Dims dimsX(p.begin() + 1, p.begin() + 1 + rank);
  Dims permutation(p.begin() + 1 + rank, p.end());
  Dims stridesX = denseStrides(dimsX);
  Dims dimsY(rank), viewStrides(rank);
  for (int64_t i = 0; i < rank; ++i) {
    dimsY[i] = dimsX[permutation[i]];
    viewStrides[i] = stridesX[permutation[i]];
  }
  float* x = floatArray(info[0], "x", static_cast<size_t>(product(dimsX)));
  float* y = floatArray(info[1], "y", static_cast<size_t>(product(dimsY)));
  if (product(dimsX) == 0) return info.Env().Undefined();
  KeyBuilder key("transpose");
  key.add(dimsX).add(permutation);
  auto* entry = reorderFor(key.str(), memory::desc(dimsY, dt::f32, viewStrides), memory::desc(dimsY, dt::f32, denseStrides(dimsY)));
  runReorder(entry, x, y);
  return info.Env().Undefined();
}

// stridedSlice(x, y, [rank, ...dimsX, ...begin, ...step, ...dimsY]) with positive steps.
Napi::Value StridedSlice(const Napi::CallbackInfo& info) {
  auto p = intArray(info[2], "slice parameters");
  int64_t rank = p.empty() ? 0 : p[0];
  checkRank(info.Env(), rank, p.size(), static_cast<size_t>(1 + 4 * rank));
  Dims dimsX(p.begin() + 1, p.begin() + 1 + rank);
  Dims begin(p.begin() + 1 + rank, p.begin() + 1 + 2 * rank);
  Dims step(p.begin() + 1 + 2 * rank, p.begin() + 1 + 3 * rank);
  Dims dimsY(p.begin() + 1 + 3 * rank, p.end());
  Dims stridesX = denseStrides(dimsX);
  Dims viewStrides(rank);
  int64_t offset = 0;
  for (int64_t i = 0; i < rank; ++i) {
    if (step[i] < 1) throw Napi::RangeError::New(info.Env(), "stridedSlice steps must be positive");
    if (dimsY[i] > 0 && begin[i] + (dimsY[i] - 1) * step[i] >= dimsX[i]) {
      throw Napi::RangeError::New(info.Env(), "stridedSlice reads past the end of an axis");
    }
    viewStrides[i] = stridesX[i] * step[i];
    offset += begin[i] * stridesX[i];
  }
  float* x = floatArray(info[0], "x", static_cast<size_t>(product(dimsX)));
  float* y = floatArray(info[1], "y", static_cast<size_t>(product(dimsY)));
  if (product(dimsY) == 0) return info.Env().Undefined();
  KeyBuilder key("slice");
  key.add(dimsY).add(viewStrides);
  auto* entry = reorderFor(key.str(), memory::desc(dimsY, dt::f32, viewStrides), memory::desc(dimsY, dt::f32, denseStrides(dimsY)));
  runReorder(entry, x + offset, y);
  return info.Env().Undefined();
}

// pad(x, y, [rank, ...dimsX, ...before, ...dimsY], value): constant padding.
Napi::Value Pad(const Napi::CallbackInfo& info) {
  auto p = intArray(info[2], "pad parameters");
  int64_t rank = p.empty() ? 0 : p[0];
  checkRank(info.Env(), rank, p.size(), static_cast<size_t>(1 + 3 * rank));
  Dims dimsX(p.begin() + 1, p.begin() + 1 + rank);
  Dims before(p.begin() + 1 + rank, p.begin() + 1 + 2 * rank);
  Dims dimsY(p.begin() + 1 + 2 * rank, p.end());
  float value = info[3].As<Napi::Number>().FloatValue();
  for (int64_t i = 0; i < rank; ++i) {
    if (before[i] < 0 || before[i] + dimsX[i] > dimsY[i]) throw Napi::RangeError::New(info.Env(), "pad does not fit the output");
  }
  float* x = floatArray(info[0], "x", static_cast<size_t>(product(dimsX)));
  int64_t sizeY = product(dimsY);
  float* y = floatArray(info[1], "y", static_cast<size_t>(sizeY));
#pragma omp parallel for schedule(static) if (sizeY > 65536)
  for (int64_t i = 0; i < sizeY; ++i) y[i] = value;
  if (product(dimsX) == 0) return info.Env().Undefined();
  KeyBuilder key("pad");
  key.add(dimsX).add(before).add(dimsY);
  memory::desc whole(dimsY, dt::f32, denseStrides(dimsY));
  auto* entry = reorderFor(key.str(), memory::desc(dimsX, dt::f32, denseStrides(dimsX)), whole.submemory_desc(dimsX, before));
  runReorder(entry, x, y);
  return info.Env().Undefined();
}

}  // namespace

void registerLayout(Napi::Env env, Napi::Object exports) {
  exports.Set("transpose", Napi::Function::New(env, Transpose, "transpose"));
  exports.Set("stridedSlice", Napi::Function::New(env, StridedSlice, "stridedSlice"));
  exports.Set("pad", Napi::Function::New(env, Pad, "pad"));
}

}  // namespace onednn_addon
