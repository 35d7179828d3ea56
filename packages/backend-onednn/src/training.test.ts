import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { batchNormTraining } from '@mlaan/core';
import { addonUnavailableReason, input, relativeError, runOn, setUpBackends, suiteTitle } from './test-support.js';

/**
 * A residual conv net with every piece a CIFAR ResNet training step uses: strided and unstrided
 * 3x3 convolutions, training-mode batch norm (tf ops or the fused op), relu, an option-A shortcut
 * (1x1 average-pool subsampling and zero channel padding), global mean pooling, a dense head and
 * softmax cross-entropy.
 */
function network(fusedBatchNorm: boolean) {
  const batchNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
    if (fusedBatchNorm) return batchNormTraining(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
  };
  return (images: tf.Tensor, labels: tf.Tensor, parameters: tf.Tensor[]) => {
    const [stem, gamma0, beta0, conv1, gamma1, beta1, conv2, gamma2, beta2, dense, bias] = parameters as [
      tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor2D, tf.Tensor,
    ];
    const x = tf.relu(batchNorm(tf.conv2d(images as tf.Tensor4D, stem, 1, 'same'), gamma0, beta0)) as tf.Tensor4D;
    const branch = tf.relu(batchNorm(tf.conv2d(x, conv1, 2, 'same'), gamma1, beta1)) as tf.Tensor4D;
    const residual = batchNorm(tf.conv2d(branch, conv2, 1, 'same'), gamma2, beta2);
    const shortcut = tf.pad(tf.avgPool(x, 1, 2, 'valid'), [[0, 0], [0, 0], [0, 0], [2, 2]]);
    const features = tf.mean(tf.relu(tf.add(residual, shortcut)), [1, 2]);
    return tf.losses.softmaxCrossEntropy(labels, tf.add(tf.matMul(features, dense), bias)) as tf.Scalar;
  };
}

const parameterShapes = [[3, 3, 3, 4], [4], [4], [3, 3, 4, 8], [8], [8], [3, 3, 8, 8], [8], [8], [8, 10], [10]];

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('a full conv-net training step on onednn matches the cpu backend'), () => {
  beforeAll(setUpBackends);

  for (const fused of [false, true]) {
    it(`loss and every parameter gradient (batch norm ${fused ? 'fused' : 'as tf ops'})`, async () => {
      const labels = new Float32Array(6 * 10);
      for (let row = 0; row < 6; ++row) labels[row * 10 + ((row * 3) % 10)] = 1;
      const specs = [
        input([6, 9, 9, 3], 1),
        { shape: [6, 10], values: labels },
        ...parameterShapes.map((shape, index) =>
          // Batch-norm scales near 1; everything else small and centred.
          shape.length === 1 && index % 3 === 1 ? input(shape, 10 + index, 0.8, 1.2) : input(shape, 10 + index, -0.5, 0.5),
        ),
      ];
      const loss = network(fused);
      const compute = (images: tf.Tensor | undefined, onehot: tf.Tensor | undefined, ...parameters: Array<tf.Tensor | undefined>) => {
        const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) => loss(images!, onehot!, p))(parameters as tf.Tensor[]);
        return [value, ...grads];
      };
      const expected = await runOn('cpu', specs, compute);
      const actual = await runOn('onednn', specs, compute);
      expect(actual.shapes).toEqual(expected.shapes);
      expected.values.forEach((values, index) => {
        expect(relativeError(actual.values[index]!, values), `output ${index}`).toBeLessThanOrEqual(1e-4);
      });
    });
  }

  it('SGD on the onednn backend lowers the loss and leaks nothing', async () => {
    await tf.setBackend('onednn');
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10);
    const images = tf.tensor(input([6, 9, 9, 3], 2).values, [6, 9, 9, 3]);
    const variables = parameterShapes.map((shape, index) =>
      tf.variable(tf.tensor(input(shape, 30 + index, shape.length === 1 && index % 3 === 1 ? 0.8 : -0.5, shape.length === 1 && index % 3 === 1 ? 1.2 : 0.5).values, shape)),
    );
    const optimizer = tf.train.momentum(0.05, 0.9);
    const loss = network(true);
    const step = () =>
      tf.tidy(() => {
        const value = optimizer.minimize(() => loss(images, labels, variables), true, variables)!;
        return value.dataSync()[0]!;
      });
    const first = step();
    const tensors = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 15; ++i) last = step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(last).toBeLessThan(first * 0.8);
    tf.dispose([labels, images, ...variables]);
    optimizer.dispose();
  });
});
