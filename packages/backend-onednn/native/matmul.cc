// Batched matrix product with optional transposes (expressed as strides, so nothing is copied), an
// optional bias over the last axis and a fused activation.
#include "context.h"

namespace onednn_addon {
namespace {

using dt = memory::data_type;

struct MatmulEntry : CachedEntry {
  dnnl::matmul::primitive_desc descriptor;
  dnnl::matmul primitive;
  memory::desc a, b, bias, out;
};

// matmul(a, b, bias | null, out, [batchA, batchB, m, k, n, transposeA, transposeB], activation, alpha)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  auto p = intArray(info[4], "matmul parameters");
  if (p.size() != 7) throw Napi::RangeError::New(info.Env(), "matmul parameters must have 7 entries");
  int64_t batchA = p[0], batchB = p[1], m = p[2], k = p[3], n = p[4];
  bool transposeA = p[5] != 0, transposeB = p[6] != 0;
  int activation = info[5].As<Napi::Number>().Int32Value();
  float alpha = info[6].As<Napi::Number>().FloatValue();
  if (batchA != batchB && batchA != 1 && batchB != 1) {
    throw Napi::RangeError::New(info.Env(), "matmul batch sizes must match or one of them must be 1");
  }
  int64_t batch = std::max(batchA, batchB);
  float* a = floatArray(info[0], "a", static_cast<size_t>(batchA * m * k));
  float* b = floatArray(info[1], "b", static_cast<size_t>(batchB * k * n));
  float* bias = optionalFloatArray(info[2], "bias", static_cast<size_t>(n));
  float* out = floatArray(info[3], "out", static_cast<size_t>(batch * m * n));

  auto& ctx = context();
  KeyBuilder key("matmul");
  key.add(Dims{batchA, batchB, m, k, n, transposeA, transposeB}).add(bias != nullptr).add(activation).add(alpha);
  auto* entry = ctx.cache.find<MatmulEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<MatmulEntry>();
    created->a = memory::desc({batchA, m, k}, dt::f32, transposeA ? Dims{m * k, 1, m} : Dims{m * k, k, 1});
    created->b = memory::desc({batchB, k, n}, dt::f32, transposeB ? Dims{k * n, 1, k} : Dims{k * n, n, 1});
    created->bias = memory::desc({1, 1, n}, dt::f32, Dims{n, n, 1});
    created->out = memory::desc({batch, m, n}, dt::f32, Dims{m * n, n, 1});
    auto attr = ctx.attributes();
    dnnl::post_ops operations;
    appendActivation(operations, activation, alpha);
    attr.set_post_ops(operations);
    auto desc = bias != nullptr ? dnnl::matmul::desc(created->a, created->b, created->bias, created->out)
                                : dnnl::matmul::desc(created->a, created->b, created->out);
    created->descriptor = dnnl::matmul::primitive_desc(desc, attr, ctx.engine);
    created->primitive = dnnl::matmul(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  std::unordered_map<int, memory> arguments{
      {DNNL_ARG_SRC, memory(entry->a, ctx.engine, a)},
      {DNNL_ARG_WEIGHTS, memory(entry->b, ctx.engine, b)},
      {DNNL_ARG_DST, memory(entry->out, ctx.engine, out)},
      {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
  };
  if (bias != nullptr) arguments.emplace(DNNL_ARG_BIAS, memory(entry->bias, ctx.engine, bias));
  entry->primitive.execute(ctx.stream, arguments);
  ctx.stream.wait();
  return info.Env().Undefined();
}

}  // namespace

void registerMatmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
}

}  // namespace onednn_addon
