import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, definePlugin, HeadRoles, LocalTrainer, type LocalLearningPlugin, registerCpuTrainingKernels } from '../index.js';
import { disposeBatch, linearHeadHost, randomBatch, tinyBackbone } from '../testing/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

const CUTS = [[0, 0], [1, 1]] as const;

/** A plugin that counts its setups, changes the backbone in setup and undoes it, and keeps per-trainer state. */
const counting = definePlugin({ call: 'counting()', rules: {} }, () => {
  let afterBackwardCalls = 0;
  return {
    name: 'counting',
    setup(context) {
      const bn = context.backbone.namedBuffers().length;
      const original = context.backbone.classes;
      (context.backbone as { classes: number }).classes = original;
      return () => {
        afterBackwardCalls = -bn;
      };
    },
    afterBackward() {
      afterBackwardCalls += 1;
    },
    calls: () => afterBackwardCalls,
  };
});

describe('plugin objects', () => {
  it('a plugin object given to a second trainer is a fresh copy there: state stays per trainer', () => {
    const plugin = counting();
    const host = linearHeadHost();
    const backbone = tinyBackbone();
    const first = new LocalTrainer({ backbone, cuts: CUTS, plugins: [host, plugin] });
    const second = new LocalTrainer({ backbone, cuts: CUTS, plugins: [host, plugin] });
    expect(first.plugins).toContain(plugin);
    expect(second.plugins).not.toContain(plugin);
    const batch = randomBatch();
    first.step(batch).dispose();
    first.step(batch).dispose();
    second.step(batch).dispose();
    const calls = (trainer: LocalTrainer) => (trainer.plugins.find((p) => p.name === 'counting') as ReturnType<typeof counting>).calls();
    expect([calls(first), calls(second)]).toEqual([2, 1]);
    disposeBatch(batch);
    first.dispose();
    second.dispose();
    backbone.dispose();
  });

  it("setup's undo runs when the trainer is disposed, and when its constructor throws", () => {
    const backbone = tinyBackbone();
    const undone: string[] = [];
    const undoing = (name: string): LocalLearningPlugin => ({ name, setup: () => () => undone.push(name) });
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost(), undoing('a'), undoing('b')] });
    trainer.dispose();
    expect(undone).toEqual(['b', 'a']);
    undone.length = 0;
    const tensors = tf.memory().numTensors;
    expect(() => new LocalTrainer({ backbone, cuts: CUTS, plugins: [undoing('c'), { name: 'broken', terms: () => [{ name: 'x', span: [0, 9], role: HeadRoles.independent, weight: 1 }] }] })).toThrow(ConfigError);
    expect(undone).toEqual(['c']);
    expect(tf.memory().numTensors).toBe(tensors);
    backbone.dispose();
  });

  it('two hosts in one trainer are an error naming both', () => {
    const backbone = tinyBackbone();
    const other = { ...linearHeadHost(), name: 'other-host' };
    expect(() => new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost(), other] })).toThrow(
      "Plugins 'linear-host' and 'other-host' are both hosts (each supplies every module's local loss heads); give one host per trainer.",
    );
    backbone.dispose();
  });

  it('a plain plugin object (not from definePlugin) cannot be shared, and says how to fix it', () => {
    const backbone = tinyBackbone();
    const plain: LocalLearningPlugin = { name: 'plain' };
    const first = new LocalTrainer({ backbone, plugins: [plain] });
    expect(() => new LocalTrainer({ backbone, plugins: [plain] })).toThrow(/call its factory again for each trainer/);
    first.dispose();
    backbone.dispose();
  });

  it('heads are found by typed keys, and roles are open', () => {
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({
      backbone,
      cuts: CUTS,
      plugins: [linearHeadHost({ terms: (terms) => [...terms, { name: 'probe', span: [1, 1], role: 'probe', weight: 0 }] })],
    });
    expect(trainer.head(1, 'probe')).toBe(trainer.heads.get('1:probe'));
    expect(trainer.head(0, HeadRoles.independent)?.name).toBe('head.0.independent');
    expect(trainer.head(0, HeadRoles.cascade)).toBeUndefined();
    trainer.dispose();
    backbone.dispose();
  });
});
