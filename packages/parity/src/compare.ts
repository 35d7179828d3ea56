import type * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from '@mlaan/core';

export interface ComparisonRow {
  name: string;
  /** max |ours - theirs| / max(max |theirs|, noise floor): a relative error robust to tiny entries. */
  relativeError: number;
  ok: boolean;
  note?: string;
}

export function relativeError(ours: Float32Array | Int32Array, theirs: Float32Array | Int32Array, floor = 0): number {
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < theirs.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
    scale = Math.max(scale, Math.abs(theirs[i]!));
  }
  if (!Number.isFinite(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}

/** The largest |value| over every expected tensor: the fixture's scale. */
export function fixtureScale(expected: ReadonlyMap<string, RawTensor>): number {
  let largest = 0;
  for (const raw of expected.values()) {
    const d = raw.data as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) largest = Math.max(largest, Math.abs(d[i]!));
  }
  return largest;
}

/**
 * What a tensor's difference is divided by: its own largest |value|, or, when that is below 1e-6
 * of the fixture's scale, the fixture's scale. Such reference tensors are float32 rounding noise
 * (a conv bias right before a training-mode batch norm has exactly zero gradient and is stored as
 * ~1e-8); dividing by their own maximum would compare noise with noise.
 */
export function normaliser(maxAbs: number, scale: number): number {
  return maxAbs > 1e-6 * scale ? maxAbs : scale;
}

/** A run's tensors as read back to the host, by name. */
export type ProducedValues = ReadonlyMap<string, Float32Array | Int32Array>;

/**
 * Reads every produced tensor back once, asynchronously: a GPU backend (webgpu) cannot read
 * synchronously in Node, and one batch of reads costs one wait for the device instead of one each.
 */
export async function readProduced(produced: ReadonlyMap<string, tf.Tensor>): Promise<Map<string, Float32Array | Int32Array>> {
  const entries = await Promise.all(
    [...produced].map(async ([name, tensor]) => [name, (await tensor.data()) as Float32Array | Int32Array] as const),
  );
  return new Map(entries);
}

/** Compare every expected tensor with the produced one of the same name (values from `readProduced`). */
export function compareTensors(
  expected: ReadonlyMap<string, RawTensor>,
  produced: ProducedValues,
  tolerance: number,
): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  const scale = fixtureScale(expected);
  for (const [name, raw] of expected) {
    const ours = produced.get(name);
    if (!ours) {
      rows.push({ name, relativeError: Infinity, ok: false, note: 'not produced' });
      continue;
    }
    const count = raw.shape.reduce((a, b) => a * b, 1);
    if (ours.length !== count) {
      rows.push({ name, relativeError: Infinity, ok: false, note: `size ${ours.length} vs ${count}` });
      continue;
    }
    const theirs = raw.data as Float32Array;
    let maxAbs = 0;
    for (let i = 0; i < theirs.length; i++) maxAbs = Math.max(maxAbs, Math.abs(theirs[i]!));
    const noise = normaliser(maxAbs, scale) !== maxAbs && scale > 0;
    const err = relativeError(ours, theirs, noise ? scale : 0);
    rows.push({ name, relativeError: err, ok: err <= tolerance, ...(noise ? { note: 'reference is zero or rounding noise: compared at the fixture scale' } : {}) });
  }
  for (const name of produced.keys()) {
    if (!expected.has(name)) rows.push({ name, relativeError: Infinity, ok: false, note: 'produced but not in the fixture (unexpected gradient)' });
  }
  return rows;
}
