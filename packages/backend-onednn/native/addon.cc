// Module entry: version and ISA queries, threading and cache control, and the registration of every
// primitive family.
#include <malloc.h>
#include <omp.h>

#include <sstream>

#include "context.h"

namespace onednn_addon {

namespace {
// Set by Init on the thread that loads the addon; the Context itself is owned by that Node
// environment (instance data) and deleted when it shuts down.
thread_local Context* currentContext = nullptr;
}  // namespace

Context& context() {
  if (currentContext == nullptr) throw std::logic_error("the oneDNN addon was not initialised on this thread");
  return *currentContext;
}

size_t floatLength(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a Float32Array");
  }
  return value.As<Napi::Float32Array>().ElementLength();
}

float* floatArray(const Napi::Value& value, const char* name, size_t expectedLength) {
  floatLength(value, name);
  auto array = value.As<Napi::Float32Array>();
  if (array.ElementLength() != expectedLength) {
    std::ostringstream message;
    message << name << " has " << array.ElementLength() << " elements, expected " << expectedLength;
    throw Napi::RangeError::New(value.Env(), message.str());
  }
  return array.Data();
}

float* optionalFloatArray(const Napi::Value& value, const char* name, size_t expectedLength) {
  if (value.IsNull() || value.IsUndefined()) return nullptr;
  return floatArray(value, name, expectedLength);
}

std::vector<int64_t> intArray(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(value.Env(), std::string(name) + " must be an Int32Array");
  }
  auto array = value.As<Napi::Int32Array>();
  return std::vector<int64_t>(array.Data(), array.Data() + array.ElementLength());
}

int64_t product(const Dims& dims) {
  int64_t result = 1;
  for (auto dim : dims) result *= dim;
  return result;
}

Dims denseStrides(const Dims& dims) {
  Dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  return strides;
}

void appendActivation(dnnl::post_ops& operations, int activation, float alpha) {
  using dnnl::algorithm;
  switch (activation) {
    case 0: return;
    case 1: operations.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f); return;
    case 2: operations.append_eltwise(1.0f, algorithm::eltwise_clip, 0.0f, 6.0f); return;
    case 3: operations.append_eltwise(1.0f, algorithm::eltwise_elu, 1.0f, 0.0f); return;
    case 4: operations.append_eltwise(1.0f, algorithm::eltwise_relu, alpha, 0.0f); return;
    case 5: operations.append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f); return;
    default: throw std::invalid_argument("unknown fused activation code " + std::to_string(activation));
  }
}

namespace {

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* version = dnnl_version();
  auto result = Napi::Array::New(info.Env(), 3);
  result.Set(0u, Napi::Number::New(info.Env(), version->major));
  result.Set(1u, Napi::Number::New(info.Env(), version->minor));
  result.Set(2u, Napi::Number::New(info.Env(), version->patch));
  return result;
}

Napi::Value CpuIsa(const Napi::CallbackInfo& info) {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return Napi::String::New(info.Env(), "sse41");
    case dnnl::cpu_isa::avx: return Napi::String::New(info.Env(), "avx");
    case dnnl::cpu_isa::avx2: return Napi::String::New(info.Env(), "avx2");
    case dnnl::cpu_isa::avx512_mic: return Napi::String::New(info.Env(), "avx512_mic");
    case dnnl::cpu_isa::avx512_mic_4ops: return Napi::String::New(info.Env(), "avx512_mic_4ops");
    case dnnl::cpu_isa::avx512_core: return Napi::String::New(info.Env(), "avx512_core");
    case dnnl::cpu_isa::avx512_core_vnni: return Napi::String::New(info.Env(), "avx512_core_vnni");
    case dnnl::cpu_isa::avx512_core_bf16: return Napi::String::New(info.Env(), "avx512_core_bf16");
    case dnnl::cpu_isa::avx512_core_amx: return Napi::String::New(info.Env(), "avx512_core_amx");
    case dnnl::cpu_isa::avx2_vnni: return Napi::String::New(info.Env(), "avx2_vnni");
    default: return Napi::String::New(info.Env(), "other");
  }
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int threads = info[0].As<Napi::Number>().Int32Value();
  if (threads < 1) throw Napi::RangeError::New(info.Env(), "thread count must be at least 1");
  omp_set_num_threads(threads);
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

Napi::Value CacheStats(const Napi::CallbackInfo& info) {
  auto& ctx = context();
  auto result = Napi::Object::New(info.Env());
  result.Set("entries", Napi::Number::New(info.Env(), static_cast<double>(ctx.cache.size())));
  result.Set("capacity", Napi::Number::New(info.Env(), static_cast<double>(ctx.cache.capacity())));
  result.Set("hits", Napi::Number::New(info.Env(), static_cast<double>(ctx.cache.hits())));
  result.Set("misses", Napi::Number::New(info.Env(), static_cast<double>(ctx.cache.misses())));
  result.Set("stagingBytes", Napi::Number::New(info.Env(), static_cast<double>(ctx.cache.stagingBytes())));
  result.Set("scratchpadBytes", Napi::Number::New(info.Env(), static_cast<double>(ctx.scratchpad.capacity())));
  return result;
}

Napi::Value SetCacheCapacity(const Napi::CallbackInfo& info) {
  int capacity = info[0].As<Napi::Number>().Int32Value();
  if (capacity < 1) throw Napi::RangeError::New(info.Env(), "cache capacity must be at least 1");
  context().cache.setCapacity(static_cast<size_t>(capacity));
  return info.Env().Undefined();
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  context().cache.clear();
  return info.Env().Undefined();
}

// retainFreedMemory(maximumBytes, retainedBytes): serve allocations up to maximumBytes from the
// malloc heap instead of fresh mmap()s, and keep up to retainedBytes of freed heap mapped. Every
// kernel returns its result in a new TypedArray; with glibc's defaults each multi-megabyte one is a
// fresh mapping whose first write page-faults on every 4 KiB page, which costs more than the
// arithmetic for memory-bound ops. Process-wide, so register() only calls it when asked to.
Napi::Value RetainFreedMemory(const Napi::CallbackInfo& info) {
  int maximum = info[0].As<Napi::Number>().Int32Value();
  int retained = info[1].As<Napi::Number>().Int32Value();
  bool applied = mallopt(M_MMAP_THRESHOLD, maximum) == 1;
  applied = mallopt(M_TRIM_THRESHOLD, retained) == 1 && applied;
  return Napi::Boolean::New(info.Env(), applied);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* created = new Context();
  env.SetInstanceData<Context>(created);
  currentContext = created;
  exports.Set("retainFreedMemory", Napi::Function::New(env, RetainFreedMemory, "retainFreedMemory"));
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("cpuIsa", Napi::Function::New(env, CpuIsa, "cpuIsa"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("cacheStats", Napi::Function::New(env, CacheStats, "cacheStats"));
  exports.Set("setCacheCapacity", Napi::Function::New(env, SetCacheCapacity, "setCacheCapacity"));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache, "clearCache"));
  registerConvolution(env, exports);
  registerMatmul(env, exports);
  registerPooling(env, exports);
  registerElementwise(env, exports);
  registerLayout(env, exports);
  registerNormalization(env, exports);
  registerMachineProbe(env, exports);
  return exports;
}

}  // namespace

}  // namespace onednn_addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return onednn_addon::Init(env, exports); }

NODE_API_MODULE(onednn, InitModule)
