import * as tf from '@tensorflow/tfjs-core';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm,
  Conv2d,
  crossEntropy,
  Flatten,
  GlobalAveragePool,
  Linear,
  MaxPool2d,
  ReLU,
  resizeConv2d,
  SeededRandom,
  TRAIN,
  type Layer,
} from '@mlaan/core';
import { testResidualBlock } from '@mlaan/core/testing';
import { describe, it } from 'vitest';
import { errorsAgainstCpu, expectBelow, randomValues, suiteTitle, webGpuUnavailableReason } from './test-support.js';

/**
 * Every layer the models and heads use, forward (traced) and backward (input and parameter
 * gradients), on webgpu against the cpu backend from the same inputs and initial weights: a
 * kernel tfjs's WebGPU backend lacks throws here, one it gets wrong shows up as a difference.
 */
const TOLERANCE = 1e-4;

interface LayerCase {
  name: string;
  make: () => Layer;
  inputShape: number[];
}

const cases: LayerCase[] = [
  { name: 'Conv2d 3x3 stride 1', make: () => new Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, random: new SeededRandom(1) }), inputShape: [2, 9, 9, 3] },
  { name: 'Conv2d 3x3 stride 2 (odd size)', make: () => new Conv2d({ inChannels: 4, outChannels: 8, kernelSize: 3, stride: 2, padding: 1, random: new SeededRandom(2) }), inputShape: [2, 9, 9, 4] },
  { name: 'Conv2d 1x1 stride 2', make: () => new Conv2d({ inChannels: 4, outChannels: 8, kernelSize: 1, stride: 2, random: new SeededRandom(3) }), inputShape: [2, 8, 8, 4] },
  { name: 'Conv2d with bias, PyTorch default init', make: () => new Conv2d({ inChannels: 5, outChannels: 6, kernelSize: 3, padding: 1, bias: true, init: 'pytorch-default', random: new SeededRandom(4) }), inputShape: [2, 7, 7, 5] },
  { name: 'Conv2d 3x3 at ResNet width 64', make: () => new Conv2d({ inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, random: new SeededRandom(5) }), inputShape: [4, 8, 8, 64] },
  { name: 'BatchNorm over NHWC', make: () => new BatchNorm({ channels: 6 }), inputShape: [4, 5, 5, 6] },
  { name: 'BatchNorm over NHWC, many pixels (staged reductions)', make: () => new BatchNorm({ channels: 16 }), inputShape: [8, 16, 16, 16] },
  { name: 'BatchNorm over NC', make: () => new BatchNorm({ channels: 7 }), inputShape: [6, 7] },
  { name: 'ReLU', make: () => new ReLU(), inputShape: [3, 4, 4, 5] },
  { name: 'Linear', make: () => new Linear({ inFeatures: 12, outFeatures: 10, random: new SeededRandom(6) }), inputShape: [5, 12] },
  { name: 'GlobalAveragePool', make: () => new GlobalAveragePool(), inputShape: [3, 6, 6, 4] },
  { name: 'AvgPool2d', make: () => new AvgPool2d({ kernelSize: 2, stride: 2 }), inputShape: [2, 8, 8, 3] },
  { name: 'MaxPool2d', make: () => new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }), inputShape: [2, 9, 9, 3] },
  { name: 'AdaptiveAvgPool2d', make: () => new AdaptiveAvgPool2d(2), inputShape: [2, 8, 8, 3] },
  { name: 'Flatten', make: () => new Flatten(), inputShape: [2, 3, 3, 4] },
  { name: 'BasicBlock, identity shortcut', make: () => testResidualBlock(8, 8, 1, new SeededRandom(7)), inputShape: [2, 8, 8, 8] },
  { name: 'BasicBlock, projection shortcut', make: () => testResidualBlock(8, 16, 2, new SeededRandom(8)), inputShape: [2, 8, 8, 8] },
];

/** Output, input gradient, then each parameter gradient in the layer's order; then its buffers (running statistics after the update). */
function forwardAndBackward(testCase: LayerCase): tf.Tensor[] {
  const layer = testCase.make();
  const size = testCase.inputShape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(randomValues(size, 11), testCase.inputShape);
  const activation = layer.forward(x, TRAIN);
  const outputGradient = tf.tensor(randomValues(activation.output.size, 12), activation.output.shape);
  const gradients = activation.backward(outputGradient, { input: true, parameters: true });
  const results = [
    activation.output.clone(),
    gradients.input!,
    ...layer.namedParameters().map(([name]) => gradients.parameters![name]!),
    ...layer.buffers().map((buffer) => buffer.clone()),
  ];
  activation.dispose();
  layer.dispose();
  return results;
}

describe.skipIf(webGpuUnavailableReason !== null)(suiteTitle('layers forward and backward on webgpu match the cpu backend'), () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      expectBelow(await errorsAgainstCpu(() => forwardAndBackward(testCase)), TOLERANCE);
    });
  }

  it('resizeConv2d on every path (InfoPro decoder)', async () => {
    const run = () =>
      (['bilinear', 'nearest'] as const).flatMap((interpolation) =>
        ([[9, 9], [16, 16], [8, 8]] as const).flatMap((size) => {
          const x = tf.tensor4d(randomValues(2 * 8 * 8 * 4, 21), [2, 8, 8, 4]);
          const filter = tf.tensor4d(randomValues(3 * 3 * 4 * 3, 22), [3, 3, 4, 3]);
          const { value, grads } = tf.valueAndGrads((input: tf.Tensor, weights: tf.Tensor) =>
            tf.sum(tf.square(resizeConv2d(input as tf.Tensor4D, weights as tf.Tensor4D, size, { padding: 1, interpolation }))),
          )([x, filter]);
          return [value, ...grads];
        }),
      );
    expectBelow(await errorsAgainstCpu(run), TOLERANCE);
  });

  it('cross-entropy and its gradient', async () => {
    const run = () => {
      const logits = tf.tensor2d(randomValues(6 * 10, 31, -3, 3), [6, 10]);
      const labels = tf.tensor1d([0, 9, 3, 3, 7, 1], 'int32');
      const { value, grads } = tf.valueAndGrads((input: tf.Tensor) => crossEntropy(input, labels))([logits]);
      return [value, ...grads];
    };
    expectBelow(await errorsAgainstCpu(run), TOLERANCE);
  });
});
