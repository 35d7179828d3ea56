import type { TensorInfo } from '@tensorflow/tfjs-core';

/** Every tfjs backend counts references to its buffers: a second handle on one costs no copy. */
export interface ReferenceCountingBackend {
  incRef(dataId: object): void;
}

/**
 * What the step's kernels for host-memory backends (cpu, wasm, onednn) use of a backend: every
 * tfjs backend has these methods, and on these backends none of them waits on a device.
 */
export interface HostMemoryBackend extends ReferenceCountingBackend {
  readSync(dataId: object): ArrayLike<number>;
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
}

interface PooledOutputs {
  /** onednn: an array from its buffer pool, contents unspecified, that the kernel overwrites. */
  outputBuffer?(length: number): Float32Array;
}

/**
 * A float32 array of `length` for an output the kernel overwrites completely: from the backend's
 * buffer pool where it keeps one (onednn: a recycled array, no fresh pages to fault in), else new.
 */
export function hostOutputBuffer(backend: HostMemoryBackend, length: number): Float32Array {
  const pooled = (backend as unknown as PooledOutputs).outputBuffer;
  return typeof pooled === 'function' ? pooled.call(backend, length) : new Float32Array(length);
}

interface StoredValues {
  /** cpu and onednn: the array each tensor's values are stored in. */
  data?: { get(dataId: object): { values?: unknown } | undefined };
  /** wasm: a view of a tensor's values in its heap. */
  typedArrayFromHeap?(info: TensorInfo): ArrayLike<number>;
}

/**
 * A kernel input's values, read where the backend keeps them, as its own kernels read them: the
 * stored array on cpu and onednn (onednn's `readSync` pins what it hands out, keeping it from its
 * buffer pool), a heap view on wasm (its `readSync` copies). A wasm view lasts until the heap
 * grows: read every input before writing any output.
 */
export function hostValues(backend: HostMemoryBackend, info: TensorInfo): ArrayLike<number> {
  const stored = backend as unknown as StoredValues;
  const values = stored.data?.get(info.dataId)?.values;
  if (ArrayBuffer.isView(values)) return values as unknown as ArrayLike<number>;
  if (typeof stored.typedArrayFromHeap === 'function') return stored.typedArrayFromHeap(info);
  return backend.readSync(info.dataId);
}

/** A new float32 output holding `values` (the backend takes them over or copies them). */
export function hostOutput(backend: HostMemoryBackend, shape: number[], values: Float32Array): TensorInfo {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}
