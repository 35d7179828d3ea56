import * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from '@mlaan/core';

export interface ComparisonRow {
  name: string;
  /** max |ours - theirs| / max |theirs|: a relative error robust to tiny entries. */
  relativeError: number;
  ok: boolean;
  note?: string;
}

export function relativeError(ours: Float32Array | Int32Array, theirs: Float32Array | Int32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < theirs.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
    scale = Math.max(scale, Math.abs(theirs[i]!));
  }
  if (!Number.isFinite(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}

/** Compare every expected tensor with the produced one of the same name. */
export function compareTensors(
  expected: ReadonlyMap<string, RawTensor>,
  produced: ReadonlyMap<string, tf.Tensor>,
  tolerance: number,
): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const [name, raw] of expected) {
    const ours = produced.get(name);
    if (!ours) {
      rows.push({ name, relativeError: Infinity, ok: false, note: 'not produced' });
      continue;
    }
    const count = raw.shape.reduce((a, b) => a * b, 1);
    if (ours.size !== count) {
      rows.push({ name, relativeError: Infinity, ok: false, note: `size ${ours.size} vs ${count}` });
      continue;
    }
    const err = relativeError(ours.dataSync() as Float32Array, raw.data as Float32Array);
    rows.push({ name, relativeError: err, ok: err <= tolerance });
  }
  for (const name of produced.keys()) {
    if (!expected.has(name)) rows.push({ name, relativeError: Infinity, ok: false, note: 'produced but not in the fixture (unexpected gradient)' });
  }
  return rows;
}
