import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Batch, type Head, LocalTrainer, type LossTerm, NonFiniteError, readSteps, registerCpuTrainingKernels } from '../index.js';
import { disposeBatch, linearHeadHost, randomBatch, tinyBackbone } from '../testing/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

const CUTS = [[0, 0], [1, 1]] as const; // modules: {stem}, {layer1.0, layer1.1}, {layer2.0}
const cascades = (terms: LossTerm[]) => [
  ...terms.map((t) => ({ ...t, weight: 0.3 })),
  ...terms.map((t) => ({ name: `cascade${t.span[1]}`, span: [Math.max(0, t.span[1] - 1), t.span[1]] as const, role: 'cascade' as const, weight: 0.7 })),
];

/** Every variable's and momentum buffer's values by name (read after the fact, outside any step). */
function snapshot(trainer: LocalTrainer): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  for (const [name, v] of [...trainer.namedParameters(), ...trainer.namedBuffers()]) values.set(name, v.dataSync().slice() as Float32Array);
  const names = new Map(trainer.namedParameters().map(([name, v]) => [v, name]));
  for (const [v, buffer] of trainer.optimizer.state()) values.set(`momentum:${names.get(v)}`, buffer.dataSync().slice() as Float32Array);
  return values;
}

/**
 * `after` holds `before`'s values bit for bit; a momentum buffer `before` did not have may exist
 * after an undone step, holding zeros (which the next update treats as no momentum yet).
 */
function expectSameBits(after: Map<string, Float32Array>, before: Map<string, Float32Array>): void {
  for (const [name, values] of after) {
    if (!before.has(name) && name.startsWith('momentum:')) expect(values.every((x) => Object.is(x, 0)), name).toBe(true);
    else expect(new Int32Array(values.buffer), name).toEqual(new Int32Array(before.get(name)!.buffer));
  }
  for (const name of before.keys()) expect(after.has(name), name).toBe(true);
}

/** A host whose head at `module` turns its loss into NaN (a diverged loss), or throws. */
function faultyHost(module: number, fault: 'nan' | 'throw' | 'throw-after-ops') {
  const host = linearHeadHost();
  return {
    ...host,
    createHead(...args: Parameters<NonNullable<typeof host.createHead>>): Head | undefined {
      const head = host.createHead!(...args);
      if (!head || args[0].moduleIndex !== module) return head;
      return {
        ...head,
        name: head.name,
        namedParameters: () => head.namedParameters(),
        loss(features, batch, context) {
          if (fault === 'throw') throw new Error('head exploded');
          if (fault === 'throw-after-ops') {
            // As a head that refuses a batch half-way (batch norm over one example): the tape
            // already holds what its ops saved for their backward.
            head.loss(features, batch, context);
            throw new Error('head exploded after its ops');
          }
          return tf.tidy(() => tf.mul(head.loss(features, batch, context), NaN) as tf.Scalar);
        },
      } satisfies Head;
    },
  };
}

afterEach(() => vi.restoreAllMocks());

describe('a training step never reads from the device', () => {
  it.each([
    ['end to end', undefined, undefined, undefined],
    ['local, simultaneous', CUTS, undefined, undefined],
    ['local, sequential', CUTS, undefined, 'sequential'],
    ['cascades, window', CUTS, 'window', undefined],
    ['cascades, sweep', CUTS, 'sweep', undefined],
  ] as const)('%s: no readSync during step, computeGradients or evaluate; values arrive on read()', async (_, cuts, activations, mode) => {
    const backbone = tinyBackbone({ seed: 2 });
    const plugins = cuts ? [linearHeadHost(activations ? { terms: cascades } : {})] : [];
    const trainer = new LocalTrainer({ backbone, cuts, plugins, activations, mode });
    const batch = randomBatch({ seed: 1 });
    // Every synchronous read from JavaScript (dataSync, arraySync, bufferSync) goes through the
    // engine's readSync. (The cpu backend's own kernels read their host memory through the
    // backend's readSync, which waits on nothing; on webgpu any synchronous read fails outright,
    // which the WebGPU suite runs into if one is left.)
    const engineRead = vi.spyOn(tf.engine(), 'readSync');
    const results = [trainer.step(batch), trainer.step(batch)];
    const { gradients, result } = trainer.computeGradients(batch);
    const evaluation = trainer.evaluate([{ inputs: batch.inputs.clone(), labels: batch.labels.clone() }]);
    expect(engineRead).not.toHaveBeenCalled();
    const values = await readSteps([...results, result]);
    expect(values.map((v) => v.step)).toEqual([0, 1, 2]);
    for (const v of values) expect(Number.isFinite(v.loss)).toBe(true);
    expect((await evaluation).count).toBe(batch.inputs.shape[0]);
    for (const g of gradients.values()) g.dispose();
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('readSteps reads many steps in one transfer and gives what each read() gives', async () => {
    const make = () => {
      const backbone = tinyBackbone({ seed: 3 });
      return { backbone, trainer: new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost()] }) };
    };
    const a = make();
    const b = make();
    const batch = randomBatch({ seed: 2 });
    const one: unknown[] = [];
    for (let i = 0; i < 3; i++) one.push(await a.trainer.step(batch).read());
    const many = await readSteps([0, 1, 2].map(() => b.trainer.step(batch)));
    expect(many).toEqual(one);
    disposeBatch(batch);
    for (const { trainer, backbone } of [a, b]) {
      trainer.dispose();
      backbone.dispose();
    }
  });

  it('a result read twice gives the same values; a disposed one says so', async () => {
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({ backbone });
    const batch = randomBatch();
    const result = trainer.step(batch);
    expect(await result.read()).toEqual(await result.read());
    const disposed = trainer.step(batch);
    disposed.dispose();
    await expect(disposed.read()).rejects.toThrow(/disposed before it was read/);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });
});

describe('a step is all or nothing', () => {
  it('a NaN pixel: the step is undone on the device, read() names it, the next steps train as if it never came', async () => {
    const make = () => {
      const backbone = tinyBackbone({ seed: 7 });
      return { backbone, trainer: new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost()] }) };
    };
    const good = randomBatch({ seed: 4 });
    const pixels = good.inputs.dataSync().slice();
    pixels[5] = NaN;
    const bad: Batch = { inputs: tf.tensor4d(pixels, good.inputs.shape), labels: good.labels.clone() };
    const hit = make();
    const clean = make();
    const before = snapshot(hit.trainer);
    const skipped = hit.trainer.step(bad);
    expectSameBits(snapshot(hit.trainer), before);
    const error = await skipped.read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).problem).toBe('inputs');
    expect((error as Error).message).toMatch(/Step 0: the batch's inputs hold NaN or Infinity values\. Step 0 was skipped/);
    // A skipped first step leaves momentum at zeros, which the next update turns into its own
    // gradient: the same weights, bit for bit, as a trainer that never saw the bad batch.
    for (let i = 0; i < 2; i++) {
      await hit.trainer.step(good).read();
      await clean.trainer.step(good).read();
    }
    expectSameBits(snapshot(hit.trainer), snapshot(clean.trainer));
    disposeBatch(good);
    disposeBatch(bad);
    for (const { trainer, backbone } of [hit, clean]) {
      trainer.dispose();
      backbone.dispose();
    }
  });

  it.each(['simultaneous', 'sequential'] as const)('a NaN loss (%s): weights, momentum and running statistics stay; the error names step, term and module', async (mode) => {
    const backbone = tinyBackbone({ seed: 8 });
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [faultyHost(1, 'nan')], mode });
    const batch = randomBatch({ seed: 5 });
    const before = snapshot(trainer);
    const error = await trainer
      .step(batch)
      .read()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteError);
    expect(error).toMatchObject({ step: 0, problem: 'loss', term: 'module1.independent', module: 1 });
    expect((error as Error).message).toMatch(/loss term 'module1.independent' \(module 1\) is NaN/);
    expectSameBits(snapshot(trainer), before);
    expect(trainer.stepCount).toBe(1);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it.each([
    ['before its ops', 'throw'],
    ['after its ops ran on the tape', 'throw-after-ops'],
  ] as const)('a head that throws %s: the step restores the running statistics it advanced and leaves no tensor behind', (_, fault) => {
    const backbone = tinyBackbone({ seed: 9 });
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [faultyHost(1, fault)] });
    const batch = randomBatch({ seed: 6 });
    const before = snapshot(trainer);
    const tensors = tf.memory().numTensors;
    expect(() => trainer.step(batch)).toThrow('head exploded');
    expect(tf.memory().numTensors).toBe(tensors);
    expectSameBits(snapshot(trainer), before);
    expect(trainer.stepCount).toBe(0);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });
});
