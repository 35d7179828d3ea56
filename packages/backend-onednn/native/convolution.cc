// 2-D convolution forward, backward-data and backward-weights on NHWC activations and HWIO filters
// (TensorFlow.js layouts). Activations are read and written in place; filters are reordered into
// whatever blocked layout the chosen kernel wants, into a staging buffer owned by the cached entry.
#include "context.h"

namespace onednn_addon {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using tag = memory::format_tag;
using dt = memory::data_type;

// Geometry as packed by src/kernels/convolution.ts (convolutionGeometry).
struct ConvolutionGeometry {
  int64_t batch, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels;
  int64_t filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth;
  int64_t padTop, padLeft, padBottom, padRight;

  static ConvolutionGeometry from(const Napi::Value& value) {
    auto p = intArray(value, "convolution parameters");
    if (p.size() != 17) throw Napi::RangeError::New(value.Env(), "convolution parameters must have 17 entries");
    return {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16]};
  }
  memory::desc source() const { return memory::desc({batch, inChannels, inHeight, inWidth}, dt::f32, tag::nhwc); }
  memory::desc destination() const { return memory::desc({batch, outChannels, outHeight, outWidth}, dt::f32, tag::nhwc); }
  Dims weightDims() const { return {outChannels, inChannels, filterHeight, filterWidth}; }
  memory::desc userWeights() const { return memory::desc(weightDims(), dt::f32, tag::hwio); }
  memory::desc anyWeights() const { return memory::desc(weightDims(), dt::f32, tag::any); }
  memory::desc bias() const { return memory::desc({outChannels}, dt::f32, tag::x); }
  Dims strides() const { return {strideHeight, strideWidth}; }
  // oneDNN counts dilation from 0 (no dilation), TensorFlow.js from 1.
  Dims dilations() const { return {dilationHeight - 1, dilationWidth - 1}; }
  Dims paddingBefore() const { return {padTop, padLeft}; }
  Dims paddingAfter() const { return {padBottom, padRight}; }
  size_t sourceSize() const { return static_cast<size_t>(batch * inHeight * inWidth * inChannels); }
  size_t destinationSize() const { return static_cast<size_t>(batch * outHeight * outWidth * outChannels); }
  size_t weightSize() const { return static_cast<size_t>(filterHeight * filterWidth * inChannels * outChannels); }

  KeyBuilder key(const char* tagName) const {
    KeyBuilder key(tagName);
    key.add(Dims{batch, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth,
                 strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft, padBottom, padRight});
    return key;
  }
};

dnnl::convolution_forward::primitive_desc forwardDescriptor(const ConvolutionGeometry& g, bool withBias,
                                                           const dnnl::primitive_attr& attr) {
  auto& ctx = context();
  auto desc = withBias ? dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                                         g.source(), g.anyWeights(), g.bias(), g.destination(),
                                                         g.strides(), g.dilations(), g.paddingBefore(), g.paddingAfter())
                       : dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
                                                         g.source(), g.anyWeights(), g.destination(), g.strides(),
                                                         g.dilations(), g.paddingBefore(), g.paddingAfter());
  return dnnl::convolution_forward::primitive_desc(desc, attr, ctx.engine);
}

// Reorders the user's HWIO filter into the layout a primitive chose, when they differ.
struct WeightsStaging {
  bool needed = false;
  memory::desc chosen;
  dnnl::reorder reorder;
  AlignedBuffer buffer;

  void prepare(const memory::desc& user, const memory::desc& wanted, bool toUser) {
    chosen = wanted;
    needed = user != wanted;
    if (!needed) return;
    auto& ctx = context();
    reorder = toUser ? dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, wanted, ctx.engine, user))
                     : dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, user, ctx.engine, wanted));
    buffer.reserve(wanted.get_size());
  }
  size_t bytes() const { return buffer.capacity(); }
};

struct ForwardEntry : CachedEntry {
  dnnl::convolution_forward::primitive_desc descriptor;
  dnnl::convolution_forward primitive;
  WeightsStaging weights;
  size_t stagingBytes() const override { return weights.bytes(); }
};

struct BackwardDataEntry : CachedEntry {
  dnnl::convolution_backward_data::primitive_desc descriptor;
  dnnl::convolution_backward_data primitive;
  WeightsStaging weights;
  size_t stagingBytes() const override { return weights.bytes(); }
};

struct BackwardWeightsEntry : CachedEntry {
  dnnl::convolution_backward_weights::primitive_desc descriptor;
  dnnl::convolution_backward_weights primitive;
  WeightsStaging weights;
  size_t stagingBytes() const override { return weights.bytes(); }
};

// conv2dForward(x, filter, bias | null, y, geometry, activation, activationAlpha)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  auto g = ConvolutionGeometry::from(info[4]);
  int activation = info[5].As<Napi::Number>().Int32Value();
  float alpha = info[6].As<Napi::Number>().FloatValue();
  float* x = floatArray(info[0], "x", g.sourceSize());
  float* filter = floatArray(info[1], "filter", g.weightSize());
  float* bias = optionalFloatArray(info[2], "bias", static_cast<size_t>(g.outChannels));
  float* y = floatArray(info[3], "y", g.destinationSize());

  auto& ctx = context();
  auto key = g.key("conv_fwd").add(bias != nullptr).add(activation).add(alpha);
  auto* entry = ctx.cache.find<ForwardEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<ForwardEntry>();
    auto attr = ctx.attributes();
    dnnl::post_ops operations;
    appendActivation(operations, activation, alpha);
    attr.set_post_ops(operations);
    created->descriptor = forwardDescriptor(g, bias != nullptr, attr);
    created->primitive = dnnl::convolution_forward(created->descriptor);
    created->weights.prepare(g.userWeights(), created->descriptor.weights_desc(), false);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }

  memory userWeights(g.userWeights(), ctx.engine, filter);
  memory weights = userWeights;
  if (entry->weights.needed) {
    weights = memory(entry->weights.chosen, ctx.engine, entry->weights.buffer.reserve(entry->weights.chosen.get_size()));
    entry->weights.reorder.execute(ctx.stream, userWeights, weights);
  }
  std::unordered_map<int, memory> arguments{
      {DNNL_ARG_SRC, memory(g.source(), ctx.engine, x)},
      {DNNL_ARG_WEIGHTS, weights},
      {DNNL_ARG_DST, memory(g.destination(), ctx.engine, y)},
      {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
  };
  if (bias != nullptr) arguments.emplace(DNNL_ARG_BIAS, memory(g.bias(), ctx.engine, bias));
  entry->primitive.execute(ctx.stream, arguments);
  ctx.stream.wait();
  return info.Env().Undefined();
}

// conv2dBackwardData(dy, filter, dx, geometry)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  auto g = ConvolutionGeometry::from(info[3]);
  float* dy = floatArray(info[0], "dy", g.destinationSize());
  float* filter = floatArray(info[1], "filter", g.weightSize());
  float* dx = floatArray(info[2], "dx", g.sourceSize());

  auto& ctx = context();
  auto key = g.key("conv_bwd_data");
  auto* entry = ctx.cache.find<BackwardDataEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<BackwardDataEntry>();
    auto attr = ctx.attributes();
    auto hint = forwardDescriptor(g, false, attr);
    dnnl::convolution_backward_data::desc desc(algorithm::convolution_direct, g.source(), g.anyWeights(),
                                               g.destination(), g.strides(), g.dilations(), g.paddingBefore(),
                                               g.paddingAfter());
    created->descriptor = dnnl::convolution_backward_data::primitive_desc(desc, attr, ctx.engine, hint);
    created->primitive = dnnl::convolution_backward_data(created->descriptor);
    created->weights.prepare(g.userWeights(), created->descriptor.weights_desc(), false);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }

  memory userWeights(g.userWeights(), ctx.engine, filter);
  memory weights = userWeights;
  if (entry->weights.needed) {
    weights = memory(entry->weights.chosen, ctx.engine, entry->weights.buffer.reserve(entry->weights.chosen.get_size()));
    entry->weights.reorder.execute(ctx.stream, userWeights, weights);
  }
  entry->primitive.execute(ctx.stream, {
                                           {DNNL_ARG_DIFF_DST, memory(g.destination(), ctx.engine, dy)},
                                           {DNNL_ARG_WEIGHTS, weights},
                                           {DNNL_ARG_DIFF_SRC, memory(g.source(), ctx.engine, dx)},
                                           {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
                                       });
  ctx.stream.wait();
  return info.Env().Undefined();
}

// conv2dBackwardWeights(x, dy, dFilter, dBias | null, geometry)
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  auto g = ConvolutionGeometry::from(info[4]);
  float* x = floatArray(info[0], "x", g.sourceSize());
  float* dy = floatArray(info[1], "dy", g.destinationSize());
  float* dFilter = floatArray(info[2], "dFilter", g.weightSize());
  float* dBias = optionalFloatArray(info[3], "dBias", static_cast<size_t>(g.outChannels));

  auto& ctx = context();
  auto key = g.key("conv_bwd_weights").add(dBias != nullptr);
  auto* entry = ctx.cache.find<BackwardWeightsEntry>(key.str());
  if (entry == nullptr) {
    auto created = std::make_unique<BackwardWeightsEntry>();
    auto attr = ctx.attributes();
    auto hint = forwardDescriptor(g, dBias != nullptr, attr);
    auto desc = dBias != nullptr
                    ? dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, g.source(),
                                                               g.anyWeights(), g.bias(), g.destination(), g.strides(),
                                                               g.dilations(), g.paddingBefore(), g.paddingAfter())
                    : dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, g.source(),
                                                               g.anyWeights(), g.destination(), g.strides(),
                                                               g.dilations(), g.paddingBefore(), g.paddingAfter());
    created->descriptor = dnnl::convolution_backward_weights::primitive_desc(desc, attr, ctx.engine, hint);
    created->primitive = dnnl::convolution_backward_weights(created->descriptor);
    created->weights.prepare(g.userWeights(), created->descriptor.diff_weights_desc(), true);
    entry = ctx.cache.insert(key.str(), std::move(created));
  }

  memory userWeights(g.userWeights(), ctx.engine, dFilter);
  memory weights = userWeights;
  if (entry->weights.needed) {
    weights = memory(entry->weights.chosen, ctx.engine, entry->weights.buffer.reserve(entry->weights.chosen.get_size()));
  }
  std::unordered_map<int, memory> arguments{
      {DNNL_ARG_SRC, memory(g.source(), ctx.engine, x)},
      {DNNL_ARG_DIFF_DST, memory(g.destination(), ctx.engine, dy)},
      {DNNL_ARG_DIFF_WEIGHTS, weights},
      {DNNL_ARG_SCRATCHPAD, ctx.scratchpadMemory(entry->descriptor.scratchpad_desc())},
  };
  if (dBias != nullptr) arguments.emplace(DNNL_ARG_DIFF_BIAS, memory(g.bias(), ctx.engine, dBias));
  entry->primitive.execute(ctx.stream, arguments);
  if (entry->weights.needed) entry->weights.reorder.execute(ctx.stream, weights, userWeights);
  ctx.stream.wait();
  return info.Env().Undefined();
}

// Which kernels oneDNN picked for a geometry, for benchmarks and diagnostics.
Napi::Value Conv2dImplementations(const Napi::CallbackInfo& info) {
  auto g = ConvolutionGeometry::from(info[0]);
  auto& ctx = context();
  auto attr = ctx.attributes();
  auto forward = forwardDescriptor(g, false, attr);
  dnnl::convolution_backward_data::desc dataDesc(algorithm::convolution_direct, g.source(), g.anyWeights(),
                                                 g.destination(), g.strides(), g.dilations(), g.paddingBefore(),
                                                 g.paddingAfter());
  dnnl::convolution_backward_data::primitive_desc data(dataDesc, attr, ctx.engine, forward);
  dnnl::convolution_backward_weights::desc weightsDesc(algorithm::convolution_direct, g.source(), g.anyWeights(),
                                                       g.destination(), g.strides(), g.dilations(), g.paddingBefore(),
                                                       g.paddingAfter());
  dnnl::convolution_backward_weights::primitive_desc weights(weightsDesc, attr, ctx.engine, forward);
  auto result = Napi::Object::New(info.Env());
  result.Set("forward", Napi::String::New(info.Env(), forward.impl_info_str()));
  result.Set("backwardData", Napi::String::New(info.Env(), data.impl_info_str()));
  result.Set("backwardWeights", Napi::String::New(info.Env(), weights.impl_info_str()));
  return result;
}

}  // namespace

void registerConvolution(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward, "conv2dForward"));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData, "conv2dBackwardData"));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights, "conv2dBackwardWeights"));
  exports.Set("conv2dImplementations", Napi::Function::New(env, Conv2dImplementations, "conv2dImplementations"));
}

}  // namespace onednn_addon
