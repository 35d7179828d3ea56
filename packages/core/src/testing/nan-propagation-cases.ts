import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';
import { ReLU } from '../layers/activation.js';
import { BatchNorm } from '../layers/batch-norm.js';
import { TRAIN } from '../layers/layer.js';
import { Residual, Sequential } from '../layers/sequential.js';
import { batchNormTraining } from '../ops/batch-norm.js';

/**
 * Kernels against PyTorch's NaN rule (an output that depends on a NaN input is NaN), one case per
 * kernel and situation, for every backend's test (core's for cpu and wasm, the onednn package's
 * for its kernels). Each case computes outputs from its inputs; one input element is the poison.
 * Which outputs depend on it is measured, not written down: the case runs on finite inputs twice,
 * with the poison replaced by +1000 and by -999 (not symmetric: |x| and x² would not tell), and
 * every output that differs between the two
 * depends on it. With the poison NaN, each of those must be NaN.
 *
 * The NaN is tried with both signs: a NaN made by the hardware (Inf - Inf, 0 × Inf) has its sign
 * bit set on x86, one written from JavaScript does not, and a kernel that tests the sign bit for
 * "positive" keeps one and drops the other.
 *
 * Not cases, on purpose: gradients with respect to the input whose NaN decides a branch (ReLU's
 * and max pooling's backward route dy by the input's sign or position; PyTorch's do not return NaN
 * there either), and convolution taps in the zero padding (a NaN weight meets no value there).
 */
export interface NanPropagationCase {
  name: string;
  /** Input shapes, in the order `compute` takes them. */
  shapes: readonly (readonly number[])[];
  /** Which input holds the poison, and at which flat index. */
  poison: { input: number; index: number };
  /** Value range of the finite inputs (default [-1, 1)). */
  range?: readonly [number, number];
  compute(...inputs: tf.Tensor[]): tf.Tensor | tf.Tensor[];
}

const N = 2;
const H = 6;
const W = 6;
const C = 8;
const image = [N, H, W, C] as const;
/** A flat index inside an [N, H, W, channels] map, away from every border. */
const innerOf = (channels: number) => ((1 * H + 2) * W + 3) * channels + channels - 1;
const inner = innerOf(C);

const unary = (name: string, op: (x: tf.Tensor) => tf.Tensor, range?: readonly [number, number]): NanPropagationCase => ({
  name,
  shapes: [[4, 16]],
  poison: { input: 0, index: 21 },
  range,
  compute: (x) => op(x!),
});

/** A differentiable scalar of `y` with every element weighted, so that dy is nowhere zero. */
const weightedSum = (y: tf.Tensor, weights: tf.Tensor) => tf.sum(tf.mul(y, weights));

export const nanPropagationCases: readonly NanPropagationCase[] = [
  unary('Relu', tf.relu),
  unary('Relu (every input negative)', tf.relu, [-2, -1]),
  unary('Relu6', tf.relu6),
  unary('LeakyRelu', (x) => tf.leakyRelu(x, 0.1)),
  unary('Elu', tf.elu),
  unary('Sigmoid', tf.sigmoid),
  unary('Tanh', tf.tanh),
  unary('Exp', tf.exp),
  unary('Log', tf.log, [0.5, 2]),
  unary('Sqrt', tf.sqrt, [0.5, 2]),
  unary('Rsqrt', tf.rsqrt, [0.5, 2]),
  unary('Reciprocal', tf.reciprocal, [0.5, 2]),
  unary('Square', tf.square),
  unary('Abs', tf.abs),
  unary('Neg', tf.neg),
  unary('Step', (x) => tf.step(x)),
  unary('ClipByValue', (x) => tf.clipByValue(x, -0.5, 0.5)),
  ...(['Maximum', 'Minimum'] as const).flatMap((name): NanPropagationCase[] => {
    const op = name === 'Maximum' ? tf.maximum : tf.minimum;
    return [
      { name: `${name} (NaN in the first operand)`, shapes: [[4, 16], [4, 16]], poison: { input: 0, index: 21 }, compute: (a, b) => op(a!, b!) },
      { name: `${name} (NaN in the second operand)`, shapes: [[4, 16], [4, 16]], poison: { input: 1, index: 21 }, compute: (a, b) => op(a!, b!) },
      { name: `${name} (NaN in the broadcast operand)`, shapes: [[4, 16], [16]], poison: { input: 1, index: 3 }, compute: (a, b) => op(a!, b!) },
      { name: `${name} (NaN against a scalar)`, shapes: [[4, 16]], poison: { input: 0, index: 21 }, compute: (a) => op(a!, 0) },
    ];
  }),
  { name: 'Add', shapes: [[4, 16], [16]], poison: { input: 1, index: 3 }, compute: (a, b) => tf.add(a!, b!) },
  { name: 'Sub (broadcast first operand)', shapes: [[16], [4, 16]], poison: { input: 0, index: 3 }, compute: (a, b) => tf.sub(a!, b!) },
  { name: 'Multiply', shapes: [[4, 16], [4, 16]], poison: { input: 0, index: 21 }, compute: (a, b) => tf.mul(a!, b!) },
  { name: 'RealDiv (broadcast first operand)', shapes: [[16], [4, 16]], poison: { input: 0, index: 3 }, range: [0.5, 2], compute: (a, b) => tf.div(a!, b!) },
  { name: 'SquaredDifference', shapes: [[4, 16], [4, 16]], poison: { input: 1, index: 21 }, compute: (a, b) => tf.squaredDifference(a!, b!) },
  { name: 'AddN', shapes: [[4, 16], [4, 16], [4, 16]], poison: { input: 2, index: 21 }, compute: (a, b, c) => tf.addN([a!, b!, c!]) },
  { name: 'Tile', shapes: [[1, 16]], poison: { input: 0, index: 3 }, compute: (x) => tf.tile(x!, [4, 1]) },
  { name: 'Max (channel statistics)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.max(x!, [0, 1, 2]) },
  { name: 'Max (every element)', shapes: [[4, 16]], poison: { input: 0, index: 21 }, compute: (x) => tf.max(x!) },
  { name: 'Max (last axis)', shapes: [[4, 16]], poison: { input: 0, index: 21 }, compute: (x) => tf.max(x!, -1) },
  { name: 'Min (channel statistics)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.min(x!, [0, 1, 2]) },
  { name: 'Sum (channel statistics)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.sum(x!, [0, 1, 2]) },
  { name: 'Mean (global average pooling)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.mean(x!, [1, 2]) },
  { name: 'Mean (non-adjacent axes)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.mean(x!, [0, 2]) },
  { name: 'Prod', shapes: [[4, 16]], poison: { input: 0, index: 21 }, compute: (x) => tf.prod(x!, -1) },
  { name: 'Softmax', shapes: [[4, 10]], poison: { input: 0, index: 13 }, compute: (x) => tf.softmax(x!) },
  { name: 'LogSoftmax', shapes: [[4, 10]], poison: { input: 0, index: 13 }, compute: (x) => tf.logSoftmax(x!) },
  { name: 'MaxPool (3x3, stride 2, same)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'MaxPool (every input negative)', shapes: [image], poison: { input: 0, index: inner }, range: [-2, -1], compute: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'MaxPool (2x2, valid)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'AvgPool (3x3, stride 2, same)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'AvgPool (whole map)', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.avgPool(x as tf.Tensor4D, [H, W], 1, 'valid') },
  {
    name: 'MaxPoolGrad (NaN in dy)',
    shapes: [image, [N, 3, 3, C]],
    poison: { input: 1, index: 4 * C + 2 },
    compute: (x, weights) => tf.grad((input: tf.Tensor) => weightedSum(tf.maxPool(input as tf.Tensor4D, 3, 2, 'same'), weights!))(x!),
  },
  {
    name: 'AvgPoolGrad (NaN in dy)',
    shapes: [image, [N, 3, 3, C]],
    poison: { input: 1, index: 4 * C + 2 },
    compute: (x, weights) => tf.grad((input: tf.Tensor) => weightedSum(tf.avgPool(input as tf.Tensor4D, 3, 2, 'same'), weights!))(x!),
  },
  { name: 'Conv2D (NaN in x)', shapes: [image, [3, 3, C, 4]], poison: { input: 0, index: inner }, compute: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same') },
  { name: 'Conv2D (NaN in the filter)', shapes: [image, [3, 3, C, 4]], poison: { input: 1, index: 4 * C * 4 + 2 }, compute: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same') },
  {
    name: 'Conv2DBackpropInput (NaN in dy)',
    shapes: [image, [3, 3, C, 4], [N, H, W, 4]],
    poison: { input: 2, index: innerOf(4) },
    compute: (x, w, weights) => tf.grad((input: tf.Tensor) => weightedSum(tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), weights!))(x!),
  },
  {
    name: 'Conv2DBackpropFilter (NaN in dy)',
    shapes: [image, [3, 3, C, 4], [N, H, W, 4]],
    poison: { input: 2, index: innerOf(4) },
    compute: (x, w, weights) => tf.grad((filter: tf.Tensor) => weightedSum(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same'), weights!))(w!),
  },
  { name: 'BatchMatMul', shapes: [[4, 16], [16, 10]], poison: { input: 0, index: 21 }, compute: (a, b) => tf.matMul(a!, b!) },
  ...(['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid'] as const).flatMap((activation): NanPropagationCase[] => [
    {
      name: `FusedConv2D (${activation})`,
      shapes: [image, [3, 3, C, 4], [4]],
      poison: { input: 0, index: inner },
      compute: (x, filter, bias) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: 1, pad: 'same', bias, activation, leakyreluAlpha: 0.1 }),
    },
    {
      name: `FusedDepthwiseConv2D (${activation})`,
      shapes: [image, [3, 3, C, 1], [C]],
      poison: { input: 0, index: inner },
      compute: (x, filter, bias) =>
        tf.fused.depthwiseConv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: 1, pad: 'same', bias, activation, leakyreluAlpha: 0.1 }),
    },
    {
      name: `_FusedMatMul (${activation})`,
      shapes: [[4, 16], [16, 10], [10]],
      poison: { input: 0, index: 21 },
      compute: (a, b, bias) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation, leakyreluAlpha: 0.1 }),
    },
  ]),
  {
    name: 'training batch norm: output, mean and variance',
    shapes: [image, [C], [C]],
    poison: { input: 0, index: inner },
    compute: (x, gamma, beta) => {
      const statistics: tf.Tensor[] = [];
      const y = batchNormTraining(x!, gamma as tf.Tensor1D, beta as tf.Tensor1D, 1e-5, (mean, variance) => statistics.push(mean, variance));
      return [y, ...statistics];
    },
  },
  {
    name: 'training batch norm backward (NaN in x)',
    shapes: [image, [C], [C], image],
    poison: { input: 0, index: inner },
    compute: (x, gamma, beta, weights) =>
      tf.grads((input: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) => weightedSum(batchNormTraining(input, scale as tf.Tensor1D, shift as tf.Tensor1D, 1e-5), weights!))([
        x!,
        gamma!,
        beta!,
      ]),
  },
  {
    name: 'training batch norm backward (NaN in dy)',
    shapes: [image, [C], [C], image],
    poison: { input: 3, index: inner },
    compute: (x, gamma, beta, weights) =>
      tf.grads((input: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) => weightedSum(batchNormTraining(input, scale as tf.Tensor1D, shift as tf.Tensor1D, 1e-5), weights!))([
        x!,
        gamma!,
        beta!,
      ]),
  },
  {
    name: 'FusedBatchNorm (inference, NaN in the mean)',
    shapes: [image, [C]],
    poison: { input: 1, index: 2 },
    compute: (x, mean) => tf.batchNorm(x!, mean!, tf.onesLike(mean!), tf.zerosLike(mean!), tf.onesLike(mean!), 1e-5),
  },
  {
    name: 'ReLU backward (NaN in dy)',
    shapes: [[4, 16], [4, 16]],
    poison: { input: 1, index: 21 },
    range: [0.1, 1],
    compute: (x, weights) => tf.grad((input: tf.Tensor) => weightedSum(tf.relu(input), weights!))(x!),
  },
  {
    name: 'BatchNorm then ReLU, traced (the fused kernel where the backend has it)',
    shapes: [image],
    poison: { input: 0, index: inner },
    compute: (x) => tracedOutput(new Sequential([['bn', new BatchNorm({ channels: C })], ['relu', new ReLU()]]), x!),
  },
  {
    name: 'residual block closing BatchNorm + shortcut + ReLU, traced (fused where the backend has it)',
    shapes: [image],
    poison: { input: 0, index: inner },
    compute: (x) => tracedOutput(new Residual({ main: [['bn', new BatchNorm({ channels: C })]] }), x!),
  },
  {
    name: 'BatchNorm then ReLU backward, traced (NaN in dy)',
    shapes: [image, image],
    // A position the ReLU passes (x there is above its channel's mean), so dy there reaches dx.
    poison: { input: 1, index: inner - 3 },
    compute: (x, dy) => tracedInputGradient(new Sequential([['bn', new BatchNorm({ channels: C })], ['relu', new ReLU()]]), x!, dy!),
  },
  { name: 'ResizeBilinear', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [2 * H, 2 * W]) },
  { name: 'Transpose', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.transpose(x!, [0, 3, 1, 2]) },
  { name: 'PadV2', shapes: [image], poison: { input: 0, index: inner }, compute: (x) => tf.pad(x!, [[0, 0], [1, 1], [1, 1], [0, 0]]) },
];

/** A layer's traced training output (what the trainer runs); the layer and its activation are disposed. */
function tracedOutput(layer: Sequential | Residual, x: tf.Tensor): tf.Tensor {
  const activation = layer.forward(x, TRAIN);
  const output = activation.output.clone();
  activation.dispose();
  layer.dispose();
  return output;
}

/** A layer's traced input gradient for the output gradient `dy`. */
function tracedInputGradient(layer: Sequential | Residual, x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const activation = layer.forward(x, TRAIN);
  const { input } = activation.backward(dy, { input: true, parameters: true });
  activation.dispose();
  layer.dispose();
  return input!;
}

/** Deterministic values in [low, high) (a linear congruential sequence), the same on every backend. */
function caseValues(size: number, seed: number, [low, high]: readonly [number, number]): Float32Array {
  const values = new Float32Array(size);
  let state = seed;
  for (let i = 0; i < size; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[i] = low + (high - low) * (state / 2147483648);
  }
  return values;
}

/** The poison: a number, or a NaN with its sign bit set (as x86 makes them: 0xffc00000). */
export type Poison = number | 'negative NaN';

/** A case's inputs with the poison set to `poison`. */
export function nanCaseInputs(testCase: NanPropagationCase, poison: Poison): Float32Array[] {
  return testCase.shapes.map((shape, input) => {
    const values = caseValues(
      shape.reduce((a, b) => a * b, 1),
      17 + 31 * input,
      testCase.range ?? [-1, 1],
    );
    if (input === testCase.poison.input) {
      // JavaScript numbers cannot carry a NaN's sign into a Float32Array; its bits can.
      if (poison === 'negative NaN') new Uint32Array(values.buffer)[testCase.poison.index] = 0xffc00000;
      else values[testCase.poison.index] = poison;
    }
    return values;
  });
}

/** Runs a case on the active backend with the poison set to `poison`; every output's values, no tensor left behind. */
export function runNanCase(testCase: NanPropagationCase, poison: Poison): Float32Array[] {
  const inputs = nanCaseInputs(testCase, poison).map((values, index) => tf.tensor(values, [...testCase.shapes[index]!]));
  try {
    const outputs = tf.tidy(() => {
      const result = testCase.compute(...inputs);
      return Array.isArray(result) ? result : [result];
    });
    const values = outputs.map((output) => Float32Array.from(output.dataSync() as Float32Array));
    tf.dispose(outputs);
    return values;
  } finally {
    tf.dispose(inputs);
  }
}

/**
 * Per output, the flat indices that depend on the poison: those that differ between the case run
 * with the poison at +1000 and at -999 (on the active backend, from finite inputs only).
 */
export function nanDependentOutputs(testCase: NanPropagationCase): number[][] {
  const high = runNanCase(testCase, 1000);
  const low = runNanCase(testCase, -999);
  return high.map((values, output) => {
    const dependent: number[] = [];
    values.forEach((value, index) => {
      if (value !== low[output]![index]) dependent.push(index);
    });
    return dependent;
  });
}

/**
 * The outputs that depend on the poison yet are not NaN when it is NaN, by output: empty arrays
 * when the backend propagates NaN as PyTorch does. `dependent` comes from nanDependentOutputs.
 */
export function nanDroppedOutputs(testCase: NanPropagationCase, dependent: number[][], poison: Poison = Number.NaN): number[][] {
  const poisoned = runNanCase(testCase, poison);
  return dependent.map((indices, output) => indices.filter((index) => !Number.isNaN(poisoned[output]![index]!)));
}
