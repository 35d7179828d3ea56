import * as tf from '@tensorflow/tfjs-core';
import type { SgdOptimizer } from '../training/optimizer.js';
import type { TensorRecord } from './messages.js';

/** A copy of `tensor`'s values for the wire (the tensor lives on; its storage must not move away). */
export function tensorRecord(name: string, tensor: tf.Tensor): TensorRecord {
  return {
    name,
    shape: tensor.shape,
    dtype: tensor.dtype === 'int32' ? 'int32' : 'float32',
    data: (tensor.dataSync() as Float32Array | Int32Array).slice(),
  };
}

/** Records of `variables` and of their momentum buffers in `optimizer` (those that have one). */
export function variableRecords(variables: Iterable<readonly [string, tf.Variable]>, optimizer: SgdOptimizer): { variables: TensorRecord[]; momentum: TensorRecord[] } {
  const state = optimizer.state();
  const out: { variables: TensorRecord[]; momentum: TensorRecord[] } = { variables: [], momentum: [] };
  for (const [name, v] of variables) {
    out.variables.push(tensorRecord(name, v));
    const buffer = state.get(v);
    if (buffer) out.momentum.push(tensorRecord(name, buffer));
  }
  return out;
}

/** Assigns the records whose names are in `variables` (values, and momentum into `optimizer`); others are skipped. */
export function assignRecords(
  variables: ReadonlyMap<string, tf.Variable>,
  optimizer: SgdOptimizer,
  values: readonly TensorRecord[],
  momentum: readonly TensorRecord[],
): void {
  for (const record of values) {
    const v = variables.get(record.name);
    if (v) tf.tidy(() => v.assign(tf.tensor(record.data, record.shape, record.dtype)));
  }
  for (const record of momentum) {
    const v = variables.get(record.name);
    if (!v) continue;
    const buffer = tf.tensor(record.data, record.shape, 'float32');
    optimizer.setState(v, buffer);
    buffer.dispose();
  }
}
