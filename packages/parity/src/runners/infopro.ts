import * as tf from '@tensorflow/tfjs-core';
import { importPyTorchWeights, LocalTrainer, TRAIN } from '@mlaan/core';
import { createNetwork } from '@mlaan/models';
import { infoPro, validateLambda } from '@mlaan/infopro';
import { Fixture, FixtureError, fixtureBatch, toPyTorchLayout } from '../fixture.js';
import type { ParityRunner } from '../runner.js';

/** CIFAR-10 normalisation (METHOD §6), which the fixture images were normalised with. */
const CIFAR10_NORMALIZATION = {
  mean: [125.3 / 255, 123.0 / 255, 113.9 / 255],
  std: [63.0 / 255, 62.1 / 255, 66.7 / 255],
};

/**
 * InfoPro, one step without the optimizer: the fixture's backbone and heads
 * (`infopro.<module>.decoder.*` / `.aux.*` map one-to-one onto the plugin's variable names), its
 * K cut points and λ, every local loss back-propagated by `LocalTrainer.computeGradients`.
 * Produces `loss` (the last module's cross-entropy), training-mode `logits` and `grad.*`.
 */
export const infoproRunner: ParityRunner = {
  kind: 'infopro',
  async run(fixture: Fixture) {
    const { config } = fixture;
    if (!config.cut_points || !config.lambda) {
      throw new FixtureError(`${fixture.dir}/fixture.json needs 'cut_points' and 'lambda' for an infopro fixture.`);
    }
    const task = String(config.task_loss ?? 'contrast').startsWith('contrast') ? 'contrast' : 'cross-entropy';
    const classes = fixture.expected.get('logits')?.shape[1] ?? 10;
    const backbone = createNetwork(config.net, { classes });
    const trainer = new LocalTrainer({
      backbone,
      cuts: config.cut_points,
      plugins: [infoPro({ task, lambda: validateLambda(config.lambda) })],
    });
    if (config.K !== undefined && trainer.modules.length !== config.K) {
      throw new FixtureError(`fixture K=${config.K} but its cut points give ${trainer.modules.length} modules.`);
    }
    importPyTorchWeights([...trainer.namedParameters(), ...trainer.namedBuffers()], fixture.weights);
    const batch = { ...fixtureBatch(fixture), normalization: CIFAR10_NORMALIZATION };
    const out = new Map<string, tf.Tensor>();
    out.set('logits', backbone.apply(batch.inputs, { ...TRAIN, updateStatistics: false }));
    const { gradients, result } = trainer.computeGradients(batch);
    out.set('loss', tf.tensor1d([(await result.read()).loss]));
    for (const [name, gradient] of gradients) {
      out.set(`grad.${name}`, toPyTorchLayout(gradient));
      gradient.dispose();
    }
    trainer.dispose();
    backbone.dispose();
    batch.inputs.dispose();
    batch.labels.dispose();
    return out;
  },
};
