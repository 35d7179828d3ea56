import * as tf from '@tensorflow/tfjs-core';
import { Backbone, BackboneBlock } from '../backbone/backbone.js';
import { BatchNorm } from '../layers/batch-norm.js';
import { Conv2d } from '../layers/conv2d.js';
import { Linear } from '../layers/linear.js';
import { ReLU } from '../layers/activation.js';
import { GlobalAveragePool } from '../layers/pooling.js';
import { Residual, Sequential } from '../layers/sequential.js';
import { SeededRandom } from '../random.js';
import type { NamedVariable } from '../layers/layer.js';
import { prefixed } from '../layers/layer.js';
import { crossEntropy } from '../training/losses.js';
import { definePlugin, option } from '../training/define-plugin.js';
import type { Batch, Head, HeadRequest, LocalLearningPlugin, LossTerm, SetupContext } from '../training/plugin.js';
import type { LocalTrainer } from '../training/trainer.js';

// Test helpers that need core alone. Those that need models, data files or a backend choice live
// in the private `@mlaan/test-support` package, which re-exports these: host packages import
// every helper from there.

/** A CIFAR BasicBlock (conv-BN-ReLU-conv-BN + shortcut, projection when the shape changes) for test nets. */
export function testResidualBlock(inChannels: number, outChannels: number, stride: number, random: SeededRandom): Residual {
  return new Residual({
    main: [
      ['conv1', new Conv2d({ inChannels, outChannels, kernelSize: 3, stride, padding: 1, random })],
      ['bn1', new BatchNorm({ channels: outChannels })],
      ['relu', new ReLU()],
      ['conv2', new Conv2d({ inChannels: outChannels, outChannels, kernelSize: 3, padding: 1, random })],
      ['bn2', new BatchNorm({ channels: outChannels })],
    ],
    shortcut:
      stride !== 1 || inChannels !== outChannels
        ? [
            ['0', new Conv2d({ inChannels, outChannels, kernelSize: 1, stride, random })],
            ['1', new BatchNorm({ channels: outChannels })],
          ]
        : undefined,
  });
}

/** The stem of a CIFAR ResNet (conv3x3 3→width, BN, ReLU) as a backbone block, for test nets. */
export function testStem(width: number, random: SeededRandom): BackboneBlock {
  return {
    stage: 0,
    index: 0,
    name: '',
    layer: new Sequential([
      ['conv1', new Conv2d({ inChannels: 3, outChannels: width, kernelSize: 3, padding: 1, random })],
      ['bn1', new BatchNorm({ channels: width })],
      ['relu', new ReLU()],
    ]),
    inputChannels: 3,
    outputChannels: width,
    outputStride: 1,
  };
}

/**
 * A ResNet-shaped backbone small enough for unit tests on the cpu backend: stem conv(3→4),
 * stage 1: two blocks of width 4, stage 2: one stride-2 block of width 8 (with projection).
 */
export function tinyBackbone(options: { seed?: number; classes?: number; width?: number; inputSize?: number } = {}): Backbone {
  const random = new SeededRandom(options.seed ?? 1);
  const w = options.width ?? 4;
  const classes = options.classes ?? 3;
  const block = (inC: number, outC: number, stride: number) => testResidualBlock(inC, outC, stride, random);
  const stem = testStem(w, random);
  const blocks: BackboneBlock[] = [
    { stage: 1, index: 0, name: 'layer1.0', layer: block(w, w, 1), inputChannels: w, outputChannels: w, outputStride: 1 },
    { stage: 1, index: 1, name: 'layer1.1', layer: block(w, w, 1), inputChannels: w, outputChannels: w, outputStride: 1 },
    { stage: 2, index: 0, name: 'layer2.0', layer: block(w, 2 * w, 2), inputChannels: w, outputChannels: 2 * w, outputStride: 2 },
  ];
  const classifier = new Sequential([
    ['', new GlobalAveragePool()],
    ['fc', new Linear({ inFeatures: 2 * w, outFeatures: classes, random })],
  ]);
  return new Backbone({ id: 'tiny', stem, blocks, classifier, classes, inputSize: options.inputSize ?? 8 });
}

/** A random batch of NHWC images and labels, reproducible from a seed. */
export function randomBatch(options: { size?: number; imageSize?: number; classes?: number; seed?: number } = {}): Batch {
  const n = options.size ?? 6;
  const s = options.imageSize ?? 8;
  const classes = options.classes ?? 3;
  const random = new SeededRandom(options.seed ?? 7);
  const pixels = random.fillNormal(new Float32Array(n * s * s * 3), 0, 1);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return {
    inputs: tf.tensor4d(pixels, [n, s, s, 3]),
    labels: tf.tensor1d(labels, 'int32'),
    normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
  };
}

export function disposeBatch(batch: Batch): void {
  batch.inputs.dispose();
  batch.labels.dispose();
}

export function disposeBatches(batches: readonly Batch[]): void {
  for (const batch of batches) disposeBatch(batch);
}

/** Names of gradients with a non-zero entry, sorted. */
export function nonZeroGradients(gradients: ReadonlyMap<string, tf.Tensor>): string[] {
  return [...gradients]
    .filter(([, g]) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!) > 0)
    .map(([n]) => n)
    .sort();
}

/**
 * The one test host: GAP + Linear + cross-entropy for every (module, role) but the last module,
 * sized from `request.input` (so a LAM in front of the head is accounted for). `terms` rewrites
 * the loss terms, for trainer tests that need cascades without MLM.
 */
export const linearHeadHost = definePlugin(
  {
    call: 'linearHeadHost()',
    rules: {
      seed: option.integer({}, 21),
      /** Rewrites the default terms (the trainer's one independent term per module). */
      terms: option.optional(option.custom<(terms: LossTerm[]) => LossTerm[]>((v) => (typeof v === 'function' ? undefined : 'must be a function of the terms'))),
    },
  },
  ({ seed, terms: rewrite }) => {
    const random = new SeededRandom(seed);
    return {
      name: 'linear-host',
      host: true,
      terms: rewrite ? (terms: LossTerm[]) => rewrite(terms) : undefined,
      createHead(request: HeadRequest, context: SetupContext): Head | undefined {
        if (request.isLast) return undefined;
        const prefix = `head.${request.moduleIndex}.${request.role}`;
        const network = new Sequential([
          ['', new GlobalAveragePool()],
          ['fc', new Linear({ inFeatures: request.input.channels, outFeatures: context.classes, random })],
        ]);
        return {
          name: prefix,
          namedParameters: (): NamedVariable[] => prefixed(prefix, network.namedParameters()),
          loss: (features, batch, forwardContext) => tf.tidy(() => crossEntropy(network.apply(features, forwardContext), batch.labels)),
          dispose: () => network.dispose(),
        };
      },
    } satisfies LocalLearningPlugin;
  },
);

/** Tensors `fn` leaves alive (0 when it frees everything it made). */
export async function tensorsLeftBy(fn: () => unknown): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}

/**
 * Tensors a trainer leaves behind over `steps` training steps on `batch`, after one warm-up step
 * (which may build lazy state: optimizer slots). 0 for a leak-free step.
 */
export function tensorsLeftBySteps(trainer: LocalTrainer, batch: Batch, steps = 2): number {
  trainer.step(batch).dispose();
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) trainer.step(batch).dispose();
  return tf.memory().numTensors - before;
}
