import * as tf from '@tensorflow/tfjs-core';
import { TRAIN, type ForwardContext } from '../layers/layer.js';
import { headLossAndGradients } from '../training/head-gradients.js';
import type { Batch } from '../training/plugin.js';
import { headKey } from '../training/plugin-host.js';
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
 * at it, backward), best of `repeats` after one warm-up, without touching any weight or running
 * statistic: the probe that placement by cost reads.
 */
export function measureModuleCosts(trainer: LocalTrainer, batch: Batch, repeats = 2): ModuleCosts {
  const probe: ForwardContext = { ...TRAIN, updateStatistics: false };
  const n = batch.inputs.shape[0];
  const milliseconds: number[] = [];
  const outputBytesPerImage: number[] = [];
  let input: tf.Tensor = batch.inputs;
  for (let m = 0; m < trainer.modules.length; m++) {
    const module = trainer.modules[m]!;
    let best = Infinity;
    for (let r = 0; r <= repeats; r++) {
      const started = performance.now();
      const activation = module.forward(input, probe);
      let cotangent: tf.Tensor | undefined;
      for (const term of trainer.plan.endingAt[m]!) {
        const head = trainer.heads.get(headKey(m, term.role))!;
        const result = headLossAndGradients(head, activation.output, batch, probe, term.weight);
        result.loss.dispose();
        for (const g of result.parameterGradients.values()) g.dispose();
        if (cotangent) {
          const sum = tf.add(cotangent, result.featureGradient);
          cotangent.dispose();
          result.featureGradient.dispose();
          cotangent = sum;
        } else cotangent = result.featureGradient;
      }
      if (cotangent) {
        const { parameters } = activation.backward(cotangent, { input: false, parameters: true });
        for (const g of Object.values(parameters ?? {})) g.dataSync();
        for (const g of Object.values(parameters ?? {})) g.dispose();
        cotangent.dispose();
      }
      const output = activation.output.clone();
      activation.dispose();
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
  if (input !== batch.inputs) input.dispose();
  return { milliseconds, outputBytesPerImage, batchSize: n };
}
