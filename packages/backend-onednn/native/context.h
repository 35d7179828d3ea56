// Shared state of the addon: one CPU engine and stream, a growable scratchpad that every primitive
// borrows (primitives are created with a user-managed scratchpad so no call allocates one), and an
// LRU cache of primitives keyed by operation, shapes and attributes.
#pragma once

#include <napi.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <cstdlib>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace onednn_addon {

using dnnl::memory;
using Dims = memory::dims;

// A 64-byte aligned buffer that only ever grows; used for the scratchpad and for per-primitive
// staging (reordered weights, pooling workspaces) so steady-state calls allocate nothing.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }

  void* reserve(size_t bytes) {
    if (bytes <= capacity_) return data_;
    std::free(data_);
    data_ = nullptr;
    capacity_ = 0;
    size_t rounded = (bytes + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, rounded);
    if (data_ == nullptr) throw std::bad_alloc();
    capacity_ = rounded;
    return data_;
  }
  size_t capacity() const { return capacity_; }

 private:
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

// Anything a cache entry holds (primitive descriptors, primitives, staging buffers).
struct CachedEntry {
  virtual ~CachedEntry() = default;
  virtual size_t stagingBytes() const { return 0; }
};

class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity) : capacity_(capacity) {}

  template <typename Entry>
  Entry* find(const std::string& key) {
    auto found = index_.find(key);
    if (found == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    order_.splice(order_.begin(), order_, found->second);
    return static_cast<Entry*>(found->second->second.get());
  }

  template <typename Entry>
  Entry* insert(const std::string& key, std::unique_ptr<Entry> entry) {
    Entry* raw = entry.get();
    order_.emplace_front(key, std::move(entry));
    index_[key] = order_.begin();
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return raw;
  }

  void clear() {
    index_.clear();
    order_.clear();
  }
  void setCapacity(size_t capacity) {
    capacity_ = capacity;
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }
  size_t size() const { return order_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  size_t stagingBytes() const {
    size_t total = 0;
    for (const auto& item : order_) total += item.second->stagingBytes();
    return total;
  }

 private:
  using Item = std::pair<std::string, std::unique_ptr<CachedEntry>>;
  size_t capacity_;
  std::list<Item> order_;
  std::unordered_map<std::string, std::list<Item>::iterator> index_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  AlignedBuffer scratchpad;
  PrimitiveCache cache{1024};

  // Attributes every primitive is created with: the scratchpad is ours, so executing a primitive
  // never allocates one.
  dnnl::primitive_attr attributes() const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
  }

  memory scratchpadMemory(const memory::desc& desc) {
    return memory(desc, engine, scratchpad.reserve(desc.get_size() > 0 ? desc.get_size() : 64));
  }
};

// The calling JavaScript thread's context (the main thread's, or a worker's): each Node
// environment that loads the addon gets its own, freed with that environment.
Context& context();

// Cache keys are the raw bytes of a tag followed by integer parameters.
class KeyBuilder {
 public:
  explicit KeyBuilder(const char* tag) : key_(tag) { key_.push_back('|'); }
  KeyBuilder& add(int64_t value) {
    key_.append(reinterpret_cast<const char*>(&value), sizeof(value));
    return *this;
  }
  KeyBuilder& add(int value) { return add(static_cast<int64_t>(value)); }
  KeyBuilder& add(bool value) { return add(static_cast<int64_t>(value ? 1 : 0)); }
  KeyBuilder& add(float value) {
    key_.append(reinterpret_cast<const char*>(&value), sizeof(value));
    return *this;
  }
  KeyBuilder& add(const Dims& values) {
    add(static_cast<int64_t>(values.size()));
    for (auto value : values) add(value);
    return *this;
  }
  const std::string& str() const { return key_; }

 private:
  std::string key_;
};

// Argument helpers: every tensor crosses the boundary as a Float32Array whose memory oneDNN reads
// or writes in place; shapes and attributes come as Int32Arrays or numbers.
float* floatArray(const Napi::Value& value, const char* name, size_t expectedLength);
// The element count of a Float32Array argument (checked to be one).
size_t floatLength(const Napi::Value& value, const char* name);
float* optionalFloatArray(const Napi::Value& value, const char* name, size_t expectedLength);
std::vector<int64_t> intArray(const Napi::Value& value, const char* name);
int64_t product(const Dims& dims);
Dims denseStrides(const Dims& dims);

// Fused activations shared by convolution and matmul, numbered as in src/native.ts
// (0 none, 1 relu, 2 relu6, 3 elu, 4 leaky relu with alpha, 5 sigmoid).
void appendActivation(dnnl::post_ops& operations, int activation, float alpha);

void registerConvolution(Napi::Env env, Napi::Object exports);
void registerMatmul(Napi::Env env, Napi::Object exports);
void registerPooling(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerLayout(Napi::Env env, Napi::Object exports);
void registerNormalization(Napi::Env env, Napi::Object exports);
void registerMachineProbe(Napi::Env env, Napi::Object exports);

}  // namespace onednn_addon
