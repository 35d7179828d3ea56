import * as tf from '@tensorflow/tfjs-core';
import { TRAIN } from '../layers/layer.js';
import type { Batch } from '../training/plugin.js';
import { CotangentSums, StepEngine } from '../training/step-engine.js';
import type { LocalTrainer } from '../training/trainer.js';

/** What placement by cost reads: each module's measured step time and what it sends on. */
export interface ModuleCosts {
  /** Per module: forward, its heads' losses and gradients, and its backward, in milliseconds (best of the repeats). */
  milliseconds: number[];
  /** Per module: bytes of its output per image (what a stage boundary after it transfers, besides the image). */
  outputBytesPerImage: number[];
  batchSize: number;
}

/**
 * Times each module's share of a training step on `batch` (forward, the heads of the terms ending
 * at it, backward), best of `repeats` after one warm-up, with the step engine's own primitives and
 * without touching any weight or running statistic: the probe that placement by cost reads. Each
 * timing ends when the module's gradients are on the host (read asynchronously).
 */
export async function measureModuleCosts(trainer: LocalTrainer, batch: Batch, repeats = 2): Promise<ModuleCosts> {
  const probe = { ...TRAIN, updateStatistics: false };
  const model = { modules: trainer.modules, plan: trainer.plan, headedTerms: trainer.headedTerms, moduleParameters: trainer.modules.map((m) => new Map(m.namedParameters())) };
  const n = batch.inputs.shape[0];
  const milliseconds: number[] = [];
  const outputBytesPerImage: number[] = [];
  let input: tf.Tensor = batch.inputs;
  try {
    for (let m = 0; m < trainer.modules.length; m++) {
      let best = Infinity;
      for (let r = 0; r <= repeats; r++) {
        const started = performance.now();
        const engine = new StepEngine(model, batch, probe, { first: m, end: m + 1, input });
        const activation = engine.forward(m, input);
        const cotangent = new CotangentSums<number>();
        let output: tf.Tensor | undefined;
        try {
          for (const headed of trainer.headedTerms[m]!) cotangent.addOwned(m, engine.head(headed, activation.output));
          const total = cotangent.take(m);
          if (total) {
            engine.parameterGradients(m, activation, total);
            total.dispose();
          }
          await Promise.all([...engine.sink.gradients.values()].map((g) => g.data()));
          output = activation.output.clone();
        } finally {
          activation.dispose();
          cotangent.dispose();
          engine.dispose();
        }
        // r = 0 is the warm-up.
        if (r > 0) best = Math.min(best, performance.now() - started);
        if (r < repeats) output.dispose();
        else {
          outputBytesPerImage.push((output.size * 4) / n);
          if (input !== batch.inputs) input.dispose();
          input = output;
        }
      }
      milliseconds.push(best);
    }
  } finally {
    if (input !== batch.inputs) input.dispose();
  }
  return { milliseconds, outputBytesPerImage, batchSize: n };
}
