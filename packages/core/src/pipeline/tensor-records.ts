import * as tf from '@tensorflow/tfjs-core';
import type { SgdOptimizer } from '../training/optimizer.js';
import type { TensorRecord } from './messages.js';

/** A copy of `tensor`'s values for the wire (the tensor lives on; its storage must not move away). */
export async function tensorRecord(name: string, tensor: tf.Tensor): Promise<TensorRecord> {
  return {
    name,
    shape: tensor.shape,
    dtype: tensor.dtype === 'int32' ? 'int32' : 'float32',
    data: ((await tensor.data()) as Float32Array | Int32Array).slice(),
  };
}

/** Records of `variables` and of their momentum buffers in `optimizer` (those that have one). */
export async function variableRecords(
  variables: Iterable<readonly [string, tf.Variable]>,
  optimizer: SgdOptimizer,
): Promise<{ variables: TensorRecord[]; momentum: TensorRecord[] }> {
  const state = optimizer.state();
  const named = [...variables];
  const withMomentum = named.filter(([, v]) => state.has(v));
  const [values, momentum] = await Promise.all([
    Promise.all(named.map(([name, v]) => tensorRecord(name, v))),
    Promise.all(withMomentum.map(([name, v]) => tensorRecord(name, state.get(v)!))),
  ]);
  return { variables: values, momentum };
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
