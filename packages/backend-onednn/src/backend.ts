import { totalmem } from 'node:os';

import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { backend_util, DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';

import { BufferPool } from './buffer-pool.js';
import type { OnednnAddon } from './native.js';

export const BACKEND_NAME = 'onednn';

/**
 * Default cap on freed tensor memory kept for reuse: 2 GiB, or a quarter of the machine's memory
 * if that is less. The pool only ever holds arrays that were live tensors, so it grows to about
 * one training step's working set (CIFAR ResNet-32 at batch 128: ~1.1 GiB) and stays there.
 */
export const DEFAULT_BUFFER_POOL_BYTES = Math.min(2 * 1024 ** 3, Math.floor(totalmem() / 4));

/**
 * The cpu backend's storage (every tensor's values in a JS TypedArray) with oneDNN doing the
 * arithmetic: native kernels read inputs in place and write outputs into arrays from a pool that
 * takes an array back when its tensor is disposed (see BufferPool for when that is safe). No
 * native memory belongs to a tensor, so nothing native can outlive one. Kernels this backend does
 * not replace are the cpu backend's own.
 */
export class OnednnBackend extends MathBackendCPU {
  readonly addon: OnednnAddon;
  readonly pool: BufferPool;

  constructor(addon: OnednnAddon, bufferPoolBytes = DEFAULT_BUFFER_POOL_BYTES) {
    super();
    this.addon = addon;
    this.pool = new BufferPool(bufferPoolBytes);
    // MathBackendCPU prints "install tfjs-node to speed things up" on its first write in Node; that
    // advice is wrong for this backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** The values of a float32 tensor as a Float32Array, or null when they are stored otherwise. */
  floatValues(tensor: TensorInfo): Float32Array | null {
    if (tensor.dtype !== 'float32') return null;
    const values = this.data.get(tensor.dataId)?.values;
    return values instanceof Float32Array ? values : null;
  }

  /** An output array the kernel overwrites completely (contents unspecified). */
  outputBuffer(length: number): Float32Array {
    return this.pool.take(length);
  }

  /** An output array that starts at zero. */
  zeroedOutputBuffer(length: number): Float32Array {
    return this.pool.takeZeroed(length);
  }

  /** Wraps a filled Float32Array as a float32 tensor of this backend. */
  floatOutput(shape: number[], values: Float32Array): TensorInfo {
    return this.makeTensorInfo(shape, 'float32', values);
  }

  override write(values: backend_util.BackendValues, shape: number[], dtype: DataType): DataId {
    this.pool.attach(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: backend_util.BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.pool.attach(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: DataId): backend_util.BackendValues {
    // The caller gets the stored array itself, and may keep it past the tensor's disposal.
    this.pool.pin(this.data.get(dataId)?.values);
    return super.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const released = super.disposeData(dataId, force);
    if (released && values !== undefined && !this.data.has(dataId)) this.pool.give(values);
    return released;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}
