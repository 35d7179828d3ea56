import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core registers gradient functions only on request.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeOn, randomValues, relativeMaxError, useBackend } from './cross-backend.test-helpers.js';
import { registerWasmTrainingKernels } from './training-kernels.js';

/**
 * One training step of a small ResNet-style network with the heads this project uses (DGL/InfoPro
 * classifier, InfoPro decoder with bilinear upsampling and BCE, a SupCon-style contrastive loss),
 * so that every kernel such a step needs runs on wasm: a missing one throws "Kernel 'X' not
 * registered for backend 'wasm'", a wrong one shows up as a gradient that differs from cpu.
 */
const BATCH = 3;
const SIZE = 11; // odd on purpose: stride-2 layers then have uneven padding
const CLASSES = 4;

const parameterShapes: Record<string, number[]> = {
  stemFilter: [3, 3, 3, 4],
  stemGamma: [4],
  stemBeta: [4],
  downFilter: [3, 3, 4, 8],
  downGamma: [8],
  downBeta: [8],
  shortcutFilter: [1, 1, 4, 8],
  classifierWeights: [8, CLASSES],
  classifierBias: [CLASSES],
  projectionWeights: [8, 6],
  decoderFilter: [3, 3, 8, 3],
  decoderBias: [3],
};

function makeParameters(): Record<string, tf.Tensor> {
  const parameters: Record<string, tf.Tensor> = {};
  Object.entries(parameterShapes).forEach(([name, shape], index) => {
    const values = randomValues(tf.util.sizeFromShape(shape), 1000 + index);
    // Gammas near one, everything else small, as after initialisation.
    const scaled = name.endsWith('Gamma') ? values.map((value) => 1 + 0.2 * value) : values.map((value) => 0.5 * value);
    parameters[name] = tf.tensor(scaled, shape);
  });
  return parameters;
}

function batchNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-5) as tf.Tensor4D;
}

function stepLoss(parameters: Record<string, tf.Tensor>, images: tf.Tensor4D, labels: tf.Tensor1D): tf.Scalar {
  const p = parameters as Record<string, tf.Tensor4D & tf.Tensor2D & tf.Tensor1D>;
  // Backbone: stem, a stride-2 block with a 1x1 projection shortcut.
  const stem = tf.relu(batchNorm(tf.conv2d(images, p.stemFilter!, 1, 'same'), p.stemGamma!, p.stemBeta!));
  const residual = batchNorm(tf.conv2d(stem, p.downFilter!, 2, 1), p.downGamma!, p.downBeta!);
  const shortcut = tf.conv2d(stem, p.shortcutFilter!, 2, 'valid');
  const features = tf.relu(tf.add(residual, shortcut)) as tf.Tensor4D;
  // Classifier head: max pool, average pool, global average, linear, softmax cross entropy.
  const pooled = tf.avgPool(tf.maxPool(features, 3, 2, 'same'), 2, 1, 'valid');
  const globalFeatures = tf.mean(pooled, [1, 2]) as tf.Tensor2D;
  const logits = tf.add(tf.matMul(globalFeatures, p.classifierWeights!), p.classifierBias!);
  const oneHot = tf.oneHot(labels, CLASSES);
  const crossEntropy = tf.losses.softmaxCrossEntropy(oneHot, logits);
  // InfoPro decoder: bilinear upsample (align corners), conv, sigmoid, binary cross entropy.
  const upsampled = tf.image.resizeBilinear(features, [SIZE, SIZE], true);
  const reconstruction = tf.sigmoid(tf.add(tf.conv2d(upsampled, p.decoderFilter!, 1, 'same'), p.decoderBias!));
  const clipped = tf.clipByValue(reconstruction, 1e-6, 1 - 1e-6);
  const binaryCrossEntropy = tf.neg(
    tf.mean(tf.add(tf.mul(images, tf.log(clipped)), tf.mul(tf.sub(1, images), tf.log(tf.sub(1, clipped))))),
  );
  // Contrastive head: L2-normalised projection, temperature-scaled similarities, positives by label.
  const projection = tf.matMul(tf.mean(features, [1, 2]) as tf.Tensor2D, p.projectionWeights!);
  const normalised = tf.div(projection, tf.maximum(tf.norm(projection, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
  const logProbabilities = tf.logSoftmax(tf.div(tf.matMul(normalised, normalised, false, true), 0.5));
  const positives = tf.cast(tf.equal(tf.expandDims(labels, 1), tf.expandDims(labels, 0)), 'float32');
  const contrastive = tf.neg(tf.mean(tf.div(tf.sum(tf.mul(positives, logProbabilities), 1), tf.sum(positives, 1))));
  return tf.addN([crossEntropy, binaryCrossEntropy, contrastive]) as tf.Scalar;
}

/** Loss followed by the gradient of every parameter, in parameterShapes order. */
function lossAndGradients(): tf.Tensor[] {
  const parameters = makeParameters();
  const images = tf.tensor4d(
    randomValues(BATCH * SIZE * SIZE * 3, 7).map((value) => 0.5 + 0.5 * value),
    [BATCH, SIZE, SIZE, 3],
  );
  const labels = tf.tensor1d([0, 2, 0], 'int32');
  const names = Object.keys(parameterShapes);
  const { value, grads } = tf.valueAndGrads((...tensors: tf.Tensor[]) => {
    const byName = Object.fromEntries(names.map((name, index) => [name, tensors[index]!]));
    return stepLoss(byName, images, labels);
  })(names.map((name) => parameters[name]!));
  return [value, ...grads];
}

describe('a ResNet-style training step with typical heads on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('runs (every kernel registered) and matches the cpu backend in loss and every gradient', async () => {
    const expected = await computeOn('cpu', lossAndGradients);
    const actual = await computeOn('wasm', lossAndGradients);
    const names = ['loss', ...Object.keys(parameterShapes)];
    const errors = Object.fromEntries(names.map((name, index) => [name, relativeMaxError(actual[index]!, expected[index]!)]));
    for (const [name, error] of Object.entries(errors)) {
      expect(error, `${name}: relative max error ${error}`).toBeLessThan(1e-4);
    }
  });

  it('leaks neither engine tensors nor wasm buffers', async () => {
    await useBackend('wasm');
    tf.dispose(tf.tidy(lossAndGradients));
    const tensors = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    tf.dispose(tf.tidy(lossAndGradients));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(dataIds);
  });
});
