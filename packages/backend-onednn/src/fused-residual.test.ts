import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BatchNorm,
  Conv2d,
  type Layer,
  ReLU,
  Residual,
  SeededRandom,
  Sequential,
  setReluTieBreaker,
  TRAIN,
} from '@mlaan/core';

import { addonUnavailableReason, randomValues, setUpBackends, suiteTitle } from './test-support.js';

/** A ResNet stem (conv, batch norm, ReLU) and two basic blocks, one with a projection shortcut. */
function network(): Sequential {
  const random = new SeededRandom(3);
  const block = (input: number, output: number, stride: number) =>
    new Residual({
      main: [
        ['conv1', new Conv2d({ inChannels: input, outChannels: output, kernelSize: 3, stride, padding: 1, random })],
        ['bn1', new BatchNorm({ channels: output })],
        ['relu', new ReLU()],
        ['conv2', new Conv2d({ inChannels: output, outChannels: output, kernelSize: 3, padding: 1, random })],
        ['bn2', new BatchNorm({ channels: output })],
      ],
      shortcut:
        stride !== 1 || input !== output
          ? [
              ['0', new Conv2d({ inChannels: input, outChannels: output, kernelSize: 1, stride, random })],
              ['1', new BatchNorm({ channels: output })],
            ]
          : undefined,
    });
  return new Sequential([
    ['conv', new Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, random })],
    ['bn', new BatchNorm({ channels: 8 })],
    ['relu', new ReLU()],
    ['block1', block(8, 8, 1)],
    ['block2', block(8, 16, 2)],
  ]);
}

/** Output, input gradient, parameter gradients and running statistics of one traced step. */
function tracedStep(layer: Layer): Record<string, Float32Array> {
  const x = tf.tensor4d(randomValues(4 * 8 * 8 * 3, 5), [4, 8, 8, 3]);
  const activation = layer.forward(x, TRAIN);
  const dy = tf.tensor(randomValues(activation.output.size, 6), activation.output.shape);
  const result = activation.backward(dy, { input: true, parameters: true });
  const values: Record<string, Float32Array> = {
    output: activation.output.dataSync() as Float32Array,
    input: result.input!.dataSync() as Float32Array,
  };
  for (const [name, gradient] of Object.entries(result.parameters!)) values[`gradient ${name}`] = gradient.dataSync() as Float32Array;
  for (const [name, buffer] of layer.namedBuffers()) values[name] = buffer.dataSync() as Float32Array;
  activation.dispose();
  tf.dispose([x, dy, result.input!, ...Object.values(result.parameters!)]);
  return values;
}

/** A tie breaker that never overrides: installed, it turns the batch norm + ReLU fusion off. */
const unfused = { inspect: () => undefined };

describe.skipIf(addonUnavailableReason !== null)(suiteTitle('ResNet layers with batch norm, shortcut sum and ReLU fused'), () => {
  beforeAll(setUpBackends);

  it('run the fused kernels and give exactly the unfused step (outputs, gradients, running statistics)', async () => {
    await tf.setBackend('onednn');
    const fusedNetwork = network();
    const unfusedNetwork = network();
    const tensors = tf.memory().numTensors;
    const profile = await tf.profile(() => {
      tracedStep(fusedNetwork);
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const kernels = profile.kernels.map((k) => k.name);
    // Stem, block1 bn1 and bn2 (identity shortcut), block2 bn1 and bn2 (projection shortcut).
    expect(kernels.filter((name) => name === BATCH_NORM_RELU_TRAINING_KERNEL)).toHaveLength(5);
    expect(kernels.filter((name) => name === BATCH_NORM_RELU_TRAINING_GRAD_KERNEL)).toHaveLength(5);
    expect(kernels).not.toContain('Relu');

    const fused = tracedStep(fusedNetwork);
    const previous = setReluTieBreaker(unfused);
    let separate: Record<string, Float32Array>;
    try {
      tracedStep(unfusedNetwork);
      separate = tracedStep(unfusedNetwork);
    } finally {
      setReluTieBreaker(previous);
    }
    expect(Object.keys(fused).sort()).toEqual(Object.keys(separate).sort());
    for (const [name, values] of Object.entries(separate)) {
      let largest = 0;
      for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(fused[name]![i]! - values[i]!));
      expect(largest, name).toBe(0);
    }
    fusedNetwork.dispose();
    unfusedNetwork.dispose();
  });

  it("match the cpu backend's step", async () => {
    await tf.setBackend('onednn');
    const onednnNetwork = network();
    const onednn = tracedStep(onednnNetwork);
    onednnNetwork.dispose();
    await tf.setBackend('cpu');
    const cpuNetwork = network();
    const cpu = tracedStep(cpuNetwork);
    cpuNetwork.dispose();
    await tf.setBackend('onednn');
    for (const [name, values] of Object.entries(cpu)) {
      let difference = 0;
      let largest = 0;
      for (let i = 0; i < values.length; i++) {
        difference = Math.max(difference, Math.abs(onednn[name]![i]! - values[i]!));
        largest = Math.max(largest, Math.abs(values[i]!));
      }
      expect(difference / largest, name).toBeLessThan(1e-4);
    }
  });
});
