import * as tf from '@tensorflow/tfjs-core';
import { EVAL, importPyTorchWeights, LocalTrainer, TRAIN } from '@mlaan/core';
import { createNetwork } from '@mlaan/models';
import { Fixture, fixtureBatch, toPyTorchLayout } from '../fixture.js';
import type { ParityRunner } from '../runner.js';

/**
 * Plain backbone: eval-mode logits with the file's running statistics, then one training-mode
 * forward + cross-entropy + backward through the same trainer that runs local learning (K = 1).
 */
export const e2eRunner: ParityRunner = {
  kind: 'e2e',
  async run(fixture: Fixture) {
    const backbone = createNetwork(fixture.config.net, { classes: 10 });
    importPyTorchWeights(backbone.namedVariables(), fixture.weights);
    const batch = fixtureBatch(fixture);
    const out = new Map<string, tf.Tensor>();
    out.set('eval_logits', backbone.apply(batch.inputs, EVAL));
    out.set('logits', backbone.apply(batch.inputs, { ...TRAIN, updateStatistics: false }));
    const trainer = new LocalTrainer({ backbone });
    const { gradients, result } = trainer.computeGradients(batch);
    out.set('loss', tf.tensor1d([(await result.read()).loss]));
    for (const [name, g] of gradients) {
      out.set(`grad.${name}`, toPyTorchLayout(g));
      g.dispose();
    }
    for (const [name, v] of backbone.namedBuffers()) out.set(`after.${name}`, v.clone());
    trainer.dispose();
    backbone.dispose();
    batch.inputs.dispose();
    batch.labels.dispose();
    return out;
  },
};
