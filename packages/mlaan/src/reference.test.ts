import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Backbone, Batch, CutPoint, ForwardContext, getSplit, LocalTrainer, perBlockCuts } from '@mlaan/core';
import { atInputSize, disposeBatch, linearHeadHost, randomBatch, smallResNet } from '@mlaan/test-support';
import type { LamPlugin } from '@mlaan/lam';
import { resnet32 } from '@mlaan/models';
import { withMLAAN } from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One step of `resnetMLAAN.py` written out literally with tfjs autograd, on the trainer's own
 * variables and heads: the stem once, an x chain (each module from the detached previous output,
 * independent loss), a y chain that re-forwards each window from the detached output before it
 * (the stem's live output for the first), one backward per iteration, the last loss = the
 * cascaded CE, then the EMA of the last leap net's twin. Every module is forwarded three times,
 * as in the authors' code; the trainer forwards each once. Returns the summed gradients by name.
 */
function literalReferenceStep(trainer: LocalTrainer, lamPlugin: LamPlugin, batch: Batch, options: { wx: number; wy: number; decay: number }) {
  const { wx, wy, decay } = options;
  const context: ForwardContext = { training: true, updateStatistics: false };
  const backbone = trainer.backbone;
  const K = trainer.modules.length;
  const blocksOf = (i: number) => trainer.modules[i]!.blocks.filter((b) => b !== backbone.stem);
  const run = (i: number, x: tf.Tensor) => blocksOf(i).reduce((h, b) => b.layer.apply(h, context), x);
  const stem = (image: tf.Tensor) => backbone.stem.layer.apply(image, context);
  const variables = trainer.namedParameters();
  const sums = new Map<string, tf.Tensor>();
  const backward = (loss: () => tf.Scalar) => {
    const { value, grads } = tf.variableGrads(loss, variables.map(([, v]) => v));
    value.dispose();
    for (const [name, v] of variables) {
      const g = grads[v.name];
      if (!g) continue;
      const previous = sums.get(name);
      sums.set(name, previous ? tf.add(previous, g) : g);
      if (previous) {
        previous.dispose();
        g.dispose();
      }
    }
  };
  let x = tf.tidy(() => run(0, stem(batch.inputs))); // x chain, detached
  let y: tf.Tensor | undefined; // y chain: detached output of module i-2 (undefined: the stem, live)
  for (let i = 1; i < K - 1; i++) {
    const xi = x;
    const yi = y;
    backward(() => {
      const own = trainer.heads.get(`${i}:independent`)!.loss(run(i, xi), batch, context);
      const window = run(i, run(i - 1, yi ?? stem(batch.inputs)));
      const cascade = trainer.heads.get(`${i}:cascade`)!.loss(window, batch, context);
      return tf.add(tf.mul(own, wx), tf.mul(cascade, wy)) as tf.Scalar;
    });
    x = tf.tidy(() => run(i, xi));
    y = tf.tidy(() => run(i - 1, yi ?? stem(batch.inputs)));
    xi.dispose();
    yi?.dispose();
  }
  const yLast = y;
  backward(() => trainer.heads.get(`${K - 1}:cascade`)!.loss(run(K - 1, run(K - 2, yLast ?? stem(batch.inputs))), batch, context));
  x.dispose();
  yLast?.dispose();
  const last = lamPlugin.networks.get(Math.max(...lamPlugin.networks.keys()))!;
  const realParameters = new Map(last.sources[0]!.layer.namedParameters());
  const twins = new Map(
    last.twin.namedParameters().map(([n, m]) => [n, tf.tidy(() => tf.add(tf.mul(m, decay), tf.mul(realParameters.get(n)!, 1 - decay)))]),
  );
  return { gradients: sums, twins };
}

function maxRelative(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(tf.max(tf.abs(b)).dataSync()[0]!, 1e-30));
}

async function compare(build: () => Backbone, cuts: readonly CutPoint[], seed: number, imageSize: number) {
  const backbone = build();
  const decay = 0.9;
  const [mlmPlugin, lamPlugin] = withMLAAN({ profile: 'reference', emaDecay: decay });
  const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost({ seed }), mlmPlugin, lamPlugin], seed });
  const batch = randomBatch({ size: 4, imageSize, classes: backbone.classes, seed });
  const literal = literalReferenceStep(trainer, lamPlugin, batch, { wx: 0.001, wy: 0.999, decay });
  await yieldToVitest();
  const ours = trainer.computeGradients(batch, { runAfterBackward: true });
  expect([...ours.gradients.keys()].sort()).toEqual([...literal.gradients.keys()].sort());
  let worst = 0;
  for (const [name, g] of ours.gradients) {
    const error = maxRelative(g, literal.gradients.get(name)!);
    expect(error, name).toBeLessThan(1e-5);
    worst = Math.max(worst, error);
  }
  const last = lamPlugin.networks.get(Math.max(...lamPlugin.networks.keys()))!;
  for (const [name, twin] of last.twin.namedParameters()) expect(maxRelative(twin, literal.twins.get(name)!), name).toBeLessThan(1e-6);
  for (const t of [...ours.gradients.values(), ...literal.gradients.values(), ...literal.twins.values()]) t.dispose();
  disposeBatch(batch);
  trainer.dispose();
  backbone.dispose();
  return worst;
}

describe('the reference profile is resnetMLAAN.py for any K and seed', () => {
  it('one block per module (ResNet-14 shape), two seeds', async () => {
    for (const seed of [1, 2]) {
      const worst = await compare(() => smallResNet(2, seed, 4, 8), perBlockCuts([2, 2, 2]), seed, 8);
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('ResNet-32 at K = 4 (rule-made leap lists) and K = 8 (the tables)', async () => {
    for (const K of [4, 8] as const) {
      await yieldToVitest();
      await compare(() => atInputSize(resnet32({ seed: K, classes: 4 }), 8), getSplit({ net: 'resnet32', K }), K, 8);
    }
  });
});
