import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core registers gradient functions only on request.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { SeededRandom } from '../random.js';
import { computeOn, randomValues, relativeMaxError, useBackend } from './cross-backend.test-helpers.js';
import { registerWasmTrainingKernels, wasmTrainingKernels } from './training-kernels.js';

type Padding = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface ConvCase {
  name: string;
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filter: [number, number];
  strides: [number, number];
  pad: Padding;
}

const TOLERANCE = 1e-4;

const fixedCases: ConvCase[] = [
  { name: '3x3 stride 1 same, odd size', batch: 2, height: 9, width: 9, inChannels: 3, outChannels: 4, filter: [3, 3], strides: [1, 1], pad: 'same' },
  { name: '3x3 stride 2 same, odd size', batch: 2, height: 9, width: 7, inChannels: 3, outChannels: 4, filter: [3, 3], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 2 same, even size', batch: 2, height: 8, width: 8, inChannels: 4, outChannels: 5, filter: [3, 3], strides: [2, 2], pad: 'same' },
  { name: '3x3 stride 1 numeric pad 1, batch 1', batch: 1, height: 7, width: 10, inChannels: 2, outChannels: 3, filter: [3, 3], strides: [1, 1], pad: 1 },
  { name: '3x3 stride 2 numeric pad 1, odd size', batch: 3, height: 11, width: 9, inChannels: 2, outChannels: 3, filter: [3, 3], strides: [2, 2], pad: 1 },
  { name: '3x3 stride 2 valid, batch 1, even size (window stops short)', batch: 1, height: 8, width: 8, inChannels: 5, outChannels: 6, filter: [3, 3], strides: [2, 2], pad: 'valid' },
  { name: '3x3 stride 1 valid', batch: 2, height: 6, width: 5, inChannels: 3, outChannels: 2, filter: [3, 3], strides: [1, 1], pad: 'valid' },
  { name: '1x1 stride 2 valid shortcut', batch: 2, height: 8, width: 8, inChannels: 4, outChannels: 8, filter: [1, 1], strides: [2, 2], pad: 'valid' },
  { name: '1x1 stride 1', batch: 1, height: 5, width: 5, inChannels: 6, outChannels: 3, filter: [1, 1], strides: [1, 1], pad: 'valid' },
  { name: '5x3 filter, strides [2, 1], explicit asymmetric pad', batch: 2, height: 11, width: 6, inChannels: 3, outChannels: 2, filter: [5, 3], strides: [2, 1], pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  { name: 'pad larger than filter - 1', batch: 1, height: 5, width: 5, inChannels: 2, outChannels: 2, filter: [3, 3], strides: [1, 1], pad: 3 },
  { name: '3x3 stride 3 same', batch: 2, height: 10, width: 7, inChannels: 2, outChannels: 3, filter: [3, 3], strides: [3, 3], pad: 'same' },
  { name: '7x7 stride 2 pad 3 (ImageNet stem)', batch: 1, height: 15, width: 15, inChannels: 3, outChannels: 4, filter: [7, 7], strides: [2, 2], pad: 3 },
];

function randomCases(count: number, seed: number): ConvCase[] {
  const random = new SeededRandom(seed);
  const pick = <T>(options: readonly T[]): T => options[random.int(options.length)]!;
  return Array.from({ length: count }, (_, index) => {
    const kernel = pick([1, 3, 3, 5] as const);
    const stride = pick([1, 2] as const);
    const pad = pick<Padding>(['same', 'valid', 1]);
    const minimum = kernel + 1;
    return {
      name: `random #${index}`,
      batch: 1 + random.int(3),
      height: minimum + random.int(9),
      width: minimum + random.int(9),
      inChannels: 1 + random.int(6),
      outChannels: 1 + random.int(6),
      filter: [kernel, kernel],
      strides: [stride, stride],
      pad,
    };
  });
}

const cases = [...fixedCases, ...randomCases(12, 2024)];

function outputShape(testCase: ConvCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(
    [testCase.batch, testCase.height, testCase.width, testCase.inChannels],
    [...testCase.filter, testCase.inChannels, testCase.outChannels],
    testCase.strides,
    1,
    testCase.pad,
  );
  return info.outShape as [number, number, number, number];
}

/** Inputs of one case, built from the same seeded values on whichever backend is active. */
function caseTensors(testCase: ConvCase, seed: number) {
  const xShape: [number, number, number, number] = [testCase.batch, testCase.height, testCase.width, testCase.inChannels];
  const filterShape: [number, number, number, number] = [...testCase.filter, testCase.inChannels, testCase.outChannels];
  const dyShape = outputShape(testCase);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  return {
    xShape,
    filterShape,
    x: tf.tensor4d(randomValues(size(xShape), seed), xShape),
    filter: tf.tensor4d(randomValues(size(filterShape), seed + 1), filterShape),
    dy: tf.tensor4d(randomValues(size(dyShape), seed + 2), dyShape),
  };
}

function backpropFilter(testCase: ConvCase, seed: number): tf.Tensor {
  const { x, dy, filterShape } = caseTensors(testCase, seed);
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: testCase.strides,
    pad: testCase.pad,
    dataFormat: 'NHWC',
    filterShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function backpropInput(testCase: ConvCase, seed: number): tf.Tensor {
  const { dy, filter, xShape } = caseTensors(testCase, seed);
  return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
    strides: testCase.strides,
    pad: testCase.pad,
    dataFormat: 'NHWC',
    inputShape: xShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

describe('wasm training kernels against the cpu backend', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('replaces wasm Conv2DBackpropInput, Tile, Sum, Mean and Identity and adds Conv2DBackpropFilter and the host-memory step kernels, idempotently', () => {
    registerWasmTrainingKernels();
    for (const config of wasmTrainingKernels) {
      expect(tf.getKernel(config.kernelName, 'wasm')).toBe(config);
    }
    expect(wasmTrainingKernels.map((config) => config.kernelName).sort()).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'Identity',
      'Mean',
      'MlaanRunningStatistics',
      'MlaanSelectByFlag',
      'MlaanSgdUpdate',
      'MlaanTotalSum',
      'Sum',
      'Tile',
    ]);
  });

  describe.each(cases.map((testCase, index) => ({ ...testCase, seed: 100 + 10 * index })))('$name', (testCase) => {
    const shapeLabel = `x ${testCase.batch}x${testCase.height}x${testCase.width}x${testCase.inChannels}, filter ${testCase.filter.join('x')}x${testCase.outChannels}, strides ${testCase.strides.join(',')}, pad ${JSON.stringify(testCase.pad)}`;

    it(`Conv2DBackpropFilter matches cpu (${shapeLabel})`, async () => {
      const [expected] = await computeOn('cpu', () => backpropFilter(testCase, testCase.seed));
      const [actual] = await computeOn('wasm', () => backpropFilter(testCase, testCase.seed));
      expect(relativeMaxError(actual!, expected!)).toBeLessThan(TOLERANCE);
    });

    it(`Conv2DBackpropInput matches cpu (${shapeLabel})`, async () => {
      const [expected] = await computeOn('cpu', () => backpropInput(testCase, testCase.seed));
      const [actual] = await computeOn('wasm', () => backpropInput(testCase, testCase.seed));
      expect(relativeMaxError(actual!, expected!)).toBeLessThan(TOLERANCE);
    });
  });

  it('gives the same conv2d gradients as cpu through tf.grads (stride 2, same)', async () => {
    const testCase = fixedCases[1]!;
    const gradients = () => {
      const { x, filter } = caseTensors(testCase, 7);
      const weights = tf.tensor1d(randomValues(tf.util.sizeFromShape(outputShape(testCase)), 9));
      const loss = (input: tf.Tensor, kernel: tf.Tensor) =>
        tf.sum(tf.mul(tf.reshape(tf.conv2d(input as tf.Tensor4D, kernel as tf.Tensor4D, testCase.strides, 'same'), [-1]), weights));
      return tf.grads(loss)([x, filter]);
    };
    const expected = await computeOn('cpu', gradients);
    const actual = await computeOn('wasm', gradients);
    expect(relativeMaxError(actual[0]!, expected[0]!)).toBeLessThan(TOLERANCE);
    expect(relativeMaxError(actual[1]!, expected[1]!)).toBeLessThan(TOLERANCE);
  });

  it('hands NCHW Conv2DBackpropInput to the wasm kernel it replaced', async () => {
    const inputNCHW = () => {
      const dy = tf.tensor4d(randomValues(2 * 3 * 4 * 4, 11), [2, 3, 4, 4]);
      const filter = tf.tensor4d(randomValues(3 * 3 * 2 * 3, 12), [3, 3, 2, 3]);
      return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
        strides: [2, 2],
        pad: 'same',
        dataFormat: 'NCHW',
        inputShape: [2, 2, 8, 8],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    };
    const [expected] = await computeOn('cpu', inputNCHW);
    const [actual] = await computeOn('wasm', inputNCHW);
    expect(relativeMaxError(actual!, expected!)).toBeLessThan(TOLERANCE);
  });

  it('rejects NCHW Conv2DBackpropFilter with a ShapeError that says to use NHWC', async () => {
    await useBackend('wasm');
    const filterNCHW = () =>
      tf.tidy(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.zeros([1, 2, 5, 5]), dy: tf.zeros([1, 3, 5, 5]) }, {
          strides: 1,
          pad: 'same',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 2, 3],
        } as unknown as tf.NamedAttrMap),
      );
    expect(filterNCHW).toThrow(ShapeError);
    expect(filterNCHW).toThrow(/NHWC/);
  });

  it('leaks neither engine tensors nor wasm buffers', async () => {
    await useBackend('wasm');
    const backend = tf.backend();
    const run = () => {
      for (const testCase of fixedCases) {
        tf.tidy(() => {
          backpropFilter(testCase, 1);
          backpropInput(testCase, 1);
        });
      }
    };
    run();
    const tensorsBefore = tf.memory().numTensors;
    const dataIdsBefore = backend.numDataIds();
    run();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(backend.numDataIds()).toBe(dataIdsBefore);
  });
});
