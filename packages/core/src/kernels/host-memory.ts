import type { TensorInfo } from '@tensorflow/tfjs-core';

/**
 * What the step's kernels for host-memory backends (cpu, wasm, onednn) use of a backend: every
 * tfjs backend has these three methods, and on these backends none of them waits on a device.
 */
export interface HostMemoryBackend {
  readSync(dataId: object): ArrayLike<number>;
  incRef(dataId: object): void;
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
}

/** A new float32 output holding `values` (the backend takes them over or copies them). */
export function hostOutput(backend: HostMemoryBackend, shape: number[], values: Float32Array): TensorInfo {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}
