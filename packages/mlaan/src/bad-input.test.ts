import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type Batch, ConfigError, getSplit, LocalTrainer, MlaanError, registerCpuTrainingKernels, ShapeError } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro } from '@mlaan/infopro';
import { resnet32 } from '@mlaan/models';
import { changedState, trainerStateBits } from '@mlaan/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withMLAAN } from './index.js';

/*
 * Issue 25's defects 4, 5 and 6 as a new user met them: ResNet-32 (K = 4) with DGL and MLAAN, the
 * careless inputs of the issue, each a library error that changes nothing and leaves no tensor.
 */
beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

const backbone = resnet32({ seed: 0 });
const cuts = getSplit({ net: 'resnet32', K: 4 });
afterAll(() => backbone.dispose());

const images = (count: number, size: number, dtype: 'float32' | 'int32' = 'float32'): Batch => ({
  inputs: (dtype === 'int32' ? tf.zeros([count, size, size, 3], 'int32') : tf.randomNormal([count, size, size, 3], 0, 1, 'float32', 3)) as tf.Tensor4D,
  labels: tf.tensor1d(
    Array.from({ length: count }, (_, i) => i % 10),
    'int32',
  ),
  normalization: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
});

describe('issue 25: the trainer refuses careless options in the library error family (defect 4)', () => {
  it.each([
    ["mode: 'parallel'", { mode: 'parallel' }, /mode must be one of 'simultaneous', 'sequential'/],
    ['optimiser (misspelt)', { optimiser: { learningRate: 0.05 } }, /unknown option\(s\) 'optimiser'.*did you mean 'optimizer'/],
    ['optimizer: { lr }', { optimizer: { lr: 0.05 } }, /unknown option\(s\) 'lr'/],
  ])('%s is a ConfigError, and the trainer made nothing', (_label, options, message) => {
    const tensors = tf.memory().numTensors;
    expect(
      () =>
        new LocalTrainer({
          backbone,
          cuts,
          plugins: [dgl()],
          ...(options as object),
        }),
    ).toThrow(ConfigError);
    expect(
      () =>
        new LocalTrainer({
          backbone,
          cuts,
          plugins: [dgl()],
          ...(options as object),
        }),
    ).toThrow(message);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('two hosts ([dgl(), infoPro()]) are an error naming both', () => {
    const tensors = tf.memory().numTensors;
    expect(
      () =>
        new LocalTrainer({
          backbone,
          cuts,
          plugins: [dgl(), infoPro({ task: 'cross-entropy' })],
        }),
    ).toThrow(/dgl.*infopro|infopro.*dgl/i);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('issue 25: steps and constructors are all or nothing (defects 5 and 6)', () => {
  it("a constructor that throws (mode: 'sequential' with withMLAAN()) leaves no tensor", () => {
    const tensors = tf.memory().numTensors;
    expect(
      () =>
        new LocalTrainer({
          backbone,
          cuts,
          plugins: [dgl(), ...withMLAAN()],
          mode: 'sequential',
        }),
    ).toThrow(ConfigError);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  describe('a bad batch changes no weight, momentum buffer or running statistic and leaves no tensor', () => {
    let trainer: LocalTrainer;
    beforeAll(async () => {
      trainer = new LocalTrainer({
        backbone,
        cuts,
        plugins: [dgl(), ...withMLAAN()],
        optimizer: { learningRate: 0.05, momentum: 0.9 },
      });
      // One good step first, so that momentum buffers exist and must stay too.
      const good = images(4, 32);
      await trainer.step(good).read();
      tf.dispose([good.inputs, good.labels]);
    });
    afterAll(() => trainer.dispose());

    it.each([
      ['28x28 images', () => images(4, 28)],
      ['int32 images', () => images(4, 32, 'int32')],
      ['an empty batch', () => images(0, 32)],
    ])('%s: a library error, nothing changed', async (_label, make) => {
      const before = trainerStateBits(trainer);
      const tensors = tf.memory().numTensors;
      const batch = make();
      let refusal: unknown;
      try {
        await trainer.step(batch).read();
      } catch (error) {
        refusal = error;
      } finally {
        tf.dispose([batch.inputs, batch.labels]);
      }
      expect(refusal).toBeInstanceOf(MlaanError);
      expect(refusal).toBeInstanceOf(ShapeError);
      expect(changedState(trainerStateBits(trainer), before)).toEqual([]);
      expect(tf.memory().numTensors).toBe(tensors);
    });

    // Defect 5: a batch of 1 is refused (DGL's head batch-normalises [1, 64]) after the backbone's
    // forward ran; the step frees what that forward kept (its traced inputs, tfjs's tape clones).
    it('a batch of 1: a library error, nothing changed, no tensor left', async () => {
      const before = trainerStateBits(trainer);
      const tensors = tf.memory().numTensors;
      const batch = images(1, 32);
      let refusal: unknown;
      try {
        await trainer.step(batch).read();
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeInstanceOf(ShapeError);
      tf.dispose([batch.inputs, batch.labels]);
      expect(changedState(trainerStateBits(trainer), before)).toEqual([]);
      expect(tf.memory().numTensors).toBe(tensors);
    });
  });
});
