// Max and average pooling (NHWC) and their gradients. TensorFlow.js's MaxPoolGrad receives the
// forward input but not oneDNN's workspace (the argmax positions), so the backward entry reruns
// the forward once into buffers it owns to get the workspace; that costs one cheap pass.
#include <algorithm>

#include "context.h"
#include "nan-propagation.h"

namespace onednn_addon {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using tag = memory::format_tag;
using dt = memory::data_type;

struct PoolingGeometry {
  int64_t batch, inHeight, inWidth, channels, outHeight, outWidth;
  int64_t filterHeight, filterWidth, strideHeight, strideWidth, padTop, padLeft, padBottom, padRight;

  static PoolingGeometry from(const Napi::Value& value) {
    auto p = intArray(value, "pooling parameters");
    if (p.size() != 14) throw Napi::RangeError::New(value.Env(), "pooling parameters must have 14 entries");
    return {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13]};
  }
  memory::desc source() const { return memory::desc({batch, channels, inHeight, inWidth}, dt::f32, tag::nhwc); }
  memory::desc destination() const { return memory::desc({batch, channels, outHeight, outWidth}, dt::f32, tag::nhwc); }
  size_t sourceSize() const { return static_cast<size_t>(batch * inHeight * inWidth * channels); }
  size_t destinationSize() const { return static_cast<size_t>(batch * outHeight * outWidth * channels); }
  KeyBuilder key(const char* name, int kind) const {
    KeyBuilder key(name);
    key.add(Dims{batch, inHeight, inWidth, channels, outHeight, outWidth, filterHeight, filterWidth, strideHeight,
                 strideWidth, padTop, padLeft, padBottom, padRight})
        .add(kind);
    return key;
  }
  dnnl::pooling_forward::desc forward(prop_kind kind, algorithm alg) const {
    return dnnl::pooling_forward::desc(kind, alg, source(), destination(), {strideHeight, strideWidth},
                                       {filterHeight, filterWidth}, {padTop, padLeft}, {padBottom, padRight});
  }
};

algorithm poolingAlgorithm(const Napi::Value& value) {
  switch (value.As<Napi::Number>().Int32Value()) {
    case 0: return algorithm::pooling_max;
    case 1: return algorithm::pooling_avg_exclude_padding;
    case 2: return algorithm::pooling_avg_include_padding;
    default: throw Napi::RangeError::New(value.Env(), "pooling kind must be 0 (max), 1 (average) or 2 (average with padding)");
  }
}

struct ForwardEntry : CachedEntry {
  dnnl::pooling_forward::primitive_desc descriptor;
  dnnl::pooling_forward primitive;
};

struct BackwardEntry : CachedEntry {
  dnnl::pooling_forward::primitive_desc forwardDescriptor;
  dnnl::pooling_forward forward;
  dnnl::pooling_backward::primitive_desc descriptor;
  dnnl::pooling_backward primitive;
  AlignedBuffer output;
  AlignedBuffer workspace;
  size_t stagingBytes() const override { return output.capacity() + workspace.capacity(); }
};

// y = NaN for every window that holds a NaN (the slow path of max pooling: oneDNN's max skips
// NaN, PyTorch's max_pool2d returns it). Padding holds no values.
void propagateWindowNaN(const float* x, float* y, const PoolingGeometry& g) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t oh = 0; oh < g.outHeight; ++oh) {
      for (int64_t ow = 0; ow < g.outWidth; ++ow) {
        float* out = y + ((n * g.outHeight + oh) * g.outWidth + ow) * g.channels;
        for (int64_t fh = 0; fh < g.filterHeight; ++fh) {
          int64_t ih = oh * g.strideHeight - g.padTop + fh;
          if (ih < 0 || ih >= g.inHeight) continue;
          for (int64_t fw = 0; fw < g.filterWidth; ++fw) {
            int64_t iw = ow * g.strideWidth - g.padLeft + fw;
            if (iw < 0 || iw >= g.inWidth) continue;
            const float* in = x + ((n * g.inHeight + ih) * g.inWidth + iw) * g.channels;
            for (int64_t c = 0; c < g.channels; ++c) {
              if (isNaN(in[c])) out[c] = in[c];
            }
          }
        }
      }
    }
  }
}

// poolForward(x, y, geometry, kind)
Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  auto g = PoolingGeometry::from(info[2]);
  auto alg = poolingAlgorithm(info[3]);
  float* x = floatArray(info[0], "x", g.sourceSize());
  float* y = floatArray(info[1], "y", g.destinationSize());
  auto& ctx = context();
  auto key = g.key("pool_fwd", static_cast<int>(alg));
  auto* entry = ctx.cache.find<ForwardEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<ForwardEntry>();
    created->descriptor =
        dnnl::pooling_forward::primitive_desc(g.forward(prop_kind::forward_inference, alg), ctx.attributes(), ctx.engine);
    created->primitive = dnnl::pooling_forward(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_SRC, memory(g.source(), ctx.engine, x)},
                                           {DNNL_ARG_DST, memory(g.destination(), ctx.engine, y)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  if (alg == algorithm::pooling_max && anyNaN(x, static_cast<int64_t>(g.sourceSize()))) propagateWindowNaN(x, y, g);
  return info.Env().Undefined();
}

// poolBackward(dy, x, dx, geometry, kind)
Napi::Value PoolBackward(const Napi::CallbackInfo& info) {
  auto g = PoolingGeometry::from(info[3]);
  auto alg = poolingAlgorithm(info[4]);
  float* dy = floatArray(info[0], "dy", g.destinationSize());
  float* x = floatArray(info[1], "x", g.sourceSize());
  float* dx = floatArray(info[2], "dx", g.sourceSize());
  auto& ctx = context();
  bool isMax = alg == algorithm::pooling_max;
  auto key = g.key("pool_bwd", static_cast<int>(alg));
  auto* entry = ctx.cache.find<BackwardEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<BackwardEntry>();
    auto attr = ctx.attributes();
    created->forwardDescriptor =
        dnnl::pooling_forward::primitive_desc(g.forward(prop_kind::forward_training, alg), attr, ctx.engine);
    if (isMax) created->forward = dnnl::pooling_forward(created->forwardDescriptor);
    dnnl::pooling_backward::desc desc(alg, g.source(), g.destination(), {g.strideHeight, g.strideWidth},
                                      {g.filterHeight, g.filterWidth}, {g.padTop, g.padLeft},
                                      {g.padBottom, g.padRight});
    created->descriptor = dnnl::pooling_backward::primitive_desc(desc, attr, ctx.engine, created->forwardDescriptor);
    created->primitive = dnnl::pooling_backward(created->descriptor);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }
  std::unordered_map<int, memory> arguments{
      {DNNL_ARG_DIFF_DST, memory(g.destination(), ctx.engine, dy)},
      {DNNL_ARG_DIFF_SRC, memory(g.source(), ctx.engine, dx)},
  };
  // Both passes borrow the shared scratchpad; size it once so the second cannot move it.
  ctx.scratchpad.reserve(std::max(entry->forwardDescriptor.scratchpad_desc().get_size(),
                                  entry->descriptor.scratchpad_desc().get_size()));
  if (isMax) {
    auto workspaceDesc = entry->forwardDescriptor.workspace_desc();
    memory workspace(workspaceDesc, ctx.engine, entry->workspace.reserve(workspaceDesc.get_size()));
    memory forwardOutput(g.destination(), ctx.engine, entry->output.reserve(g.destinationSize() * sizeof(float)));
    entry->forward.execute(ctx.stream, {
                                           {DNNL_ARG_SRC, memory(g.source(), ctx.engine, x)},
                                           {DNNL_ARG_DST, forwardOutput},
                                           {DNNL_ARG_WORKSPACE, workspace},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->forwardDescriptor.scratchpad_desc())},
                                       });
    arguments.emplace(DNNL_ARG_WORKSPACE, workspace);
  }
  arguments.emplace(DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc()));
  entry->primitive.execute(ctx.stream, arguments);
  ctx.stream.wait();
  return info.Env().Undefined();
}

}  // namespace

void registerPooling(Napi::Env env, Napi::Object exports) {
  exports.Set("poolForward", Napi::Function::New(env, PoolForward, "poolForward"));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBackward, "poolBackward"));
}

}  // namespace onednn_addon
