import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MlaanError, RawTensor, rawToTensor, readSafetensors } from '@mlaan/core';

/** A fixture folder as described in shared/golden/README.md. */
export interface Fixture {
  dir: string;
  config: FixtureConfig;
  weights: Map<string, RawTensor>;
  batch: Map<string, RawTensor>;
  expected: Map<string, RawTensor>;
  /** expected-f64.safetensors when the folder has it: the same step in float64 (stored as float32). */
  expectedFloat64?: Map<string, RawTensor>;
}

export interface FixtureConfig {
  kind: string;
  net: string;
  seed: number;
  batch: number;
  K?: number;
  cut_points?: [number, number][];
  lambda?: number[];
  leap_blocks?: Record<string, [number, number][]>;
  wx?: number;
  wy?: number;
  ema_decay?: number;
  cascade_window?: number;
  [key: string]: unknown;
}

export class FixtureError extends MlaanError {}

export async function loadFixture(dir: string): Promise<Fixture> {
  let config: FixtureConfig;
  try {
    config = JSON.parse(await readFile(join(dir, 'fixture.json'), 'utf8'));
  } catch (e) {
    throw new FixtureError(
      `Cannot read ${join(dir, 'fixture.json')}: ${(e as Error).message}. Point mlaan-parity at a fixture folder (e.g. ../shared/golden/e2e-resnet32).`,
    );
  }
  const [weights, batch, expected] = await Promise.all(
    ['weights', 'batch', 'expected'].map((n) => readSafetensors(join(dir, `${n}.safetensors`))),
  );
  const float64Path = join(dir, 'expected-f64.safetensors');
  const expectedFloat64 = existsSync(float64Path) ? await readSafetensors(float64Path) : undefined;
  return { dir, config, weights: weights!, batch: batch!, expected: expected!, ...(expectedFloat64 ? { expectedFloat64 } : {}) };
}

/** The fixture batch as NHWC inputs and int32 labels. */
export function fixtureBatch(fixture: Fixture): { inputs: tf.Tensor4D; labels: tf.Tensor1D } {
  const images = fixture.batch.get('images');
  const labels = fixture.batch.get('labels');
  if (!images || !labels) throw new FixtureError(`${fixture.dir}/batch.safetensors needs 'images' and 'labels'`);
  return tf.tidy(() => ({
    inputs: tf.transpose(rawToTensor(images), [0, 2, 3, 1]) as tf.Tensor4D,
    labels: tf.cast(rawToTensor(labels), 'int32') as tf.Tensor1D,
  }));
}

/** This library's layout back to PyTorch's (HWIO -> OIHW, [in, out] -> [out, in]). */
export function toPyTorchLayout(t: tf.Tensor): tf.Tensor {
  if (t.rank === 4) return tf.transpose(t, [3, 2, 0, 1]);
  if (t.rank === 2) return tf.transpose(t, [1, 0]);
  return t.clone();
}
