import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';

import type { OnednnAddon } from './native.js';

export const BACKEND_NAME = 'onednn';

/**
 * The cpu backend's storage (every tensor's values in a JS TypedArray, freed by the garbage
 * collector with the tensor) with oneDNN doing the arithmetic: native kernels read inputs and write
 * freshly allocated Float32Array outputs in place, so nothing is copied across the boundary and no
 * native memory outlives a tensor. Kernels this backend does not replace are the cpu backend's own.
 */
export class OnednnBackend extends MathBackendCPU {
  readonly addon: OnednnAddon;

  constructor(addon: OnednnAddon) {
    super();
    this.addon = addon;
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

  /** Wraps a filled Float32Array as a float32 tensor of this backend. */
  floatOutput(shape: number[], values: Float32Array): TensorInfo {
    return this.makeTensorInfo(shape, 'float32', values);
  }
}
