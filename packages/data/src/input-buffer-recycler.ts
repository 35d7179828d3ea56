import * as tf from '@tensorflow/tfjs-core';

/**
 * Gives the inputs arrays of disposed batches back for later batches (the loader's
 * `reuseInputBuffers`). A batch of 128 ImageNet crops is a 77 MB Float32Array; allocated fresh,
 * its every page faults in on the first write, which on the 2-core benchmark machine costs as much
 * CPU as decoding the JPEGs (benchmarks/README.md, JPEG section). tfjs stores the array itself
 * (tf.tensor does not copy it), so an array is reusable only once tfjs has forgotten the tensor's
 * data: every tensor sharing it (reshapes, clones) disposed, on whichever backend it moved to.
 */
export class InputBufferRecycler {
  private readonly lent: { values: Float32Array; dataId: object }[] = [];

  /** `keep`: arrays remembered at most; older ones are left to the garbage collector. */
  constructor(private readonly keep: number) {}

  /** `tensor` was made from `values`: reuse `values` once tfjs has released the tensor's data. */
  lend(values: Float32Array, tensor: tf.Tensor): void {
    this.lent.push({ values, dataId: tensor.dataId });
    if (this.lent.length > this.keep) this.lent.shift();
  }

  /**
   * The buffer of a released batch with room for `bytes` bytes, no longer remembered here, or
   * undefined. Released arrays that are too small are forgotten.
   */
  take(bytes: number): ArrayBuffer | undefined {
    const tensorData = engineTensorData();
    if (!tensorData) return undefined;
    for (let i = 0; i < this.lent.length; i++) {
      const { values, dataId } = this.lent[i]!;
      if (tensorData.has(dataId)) continue;
      this.lent.splice(i--, 1);
      // A transferred (detached) buffer has byteLength 0 and is never large enough.
      if (values.buffer.byteLength >= bytes) return values.buffer as ArrayBuffer;
    }
    return undefined;
  }
}

/**
 * The engine's table of live tensor data (`Engine.state.tensorInfo`: a data id stays in it until
 * the last tensor using it is disposed, whatever backend holds it), or undefined if this tfjs
 * has no such table; then nothing is ever reused.
 */
function engineTensorData(): { has(dataId: object): boolean } | undefined {
  const table = (tf.engine().state as { tensorInfo?: unknown }).tensorInfo;
  return table instanceof WeakMap ? table : undefined;
}
