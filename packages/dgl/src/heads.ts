import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm,
  Batch,
  Conv2d,
  crossEntropy,
  ForwardContext,
  GlobalAveragePool,
  Head,
  Layer,
  Linear,
  NamedVariable,
  prefixed,
  ReLU,
  SeededRandom,
  Sequential,
  ShapeError,
} from '@mlaan/core';
import { AdaptiveAveragePool, ChannelsFirstFlatten } from './layers.js';

/** What a head builder needs to know about the module output it classifies. */
export interface DglHeadShape {
  /** Channels of the module output. */
  channels: number;
  /** Spatial size (square) of the module output for the network's input size. */
  size: number;
  classes: number;
  random: SeededRandom;
  /** Hidden [Linear → BN1d → ReLU] layers of the MLP-SR head. */
  mlpLayers: number;
}

/** A named auxiliary classifier architecture: a plain config object, looked up by name. */
export interface DglHeadConfig {
  name: string;
  description: string;
  build(shape: DglHeadShape): Layer;
}

const relu = (): readonly [string, Layer] => ['', new ReLU()];

/**
 * DGL's MLP-SR (github eugenium/DGL, `auxillary_classifier2` with n_lin=3, mlp_layers=3):
 * avg-pool to ceil(S/4) → 3 x [conv1x1(C→C, no bias) → BN → ReLU] → avg-pool to min(ceil(S/4), 2)
 * → flatten → mlpLayers x [Linear(→4C) → BN1d → ReLU] → Linear(→ classes). DGL's code pools to 2x2
 * even when ceil(S/4) is 1 (replicating the cell); METHOD §3's min() keeps such maps at 1x1.
 * Inner names follow the DGL code: `blocks.<n>.0` conv, `blocks.<n>.1` BN, `classifier.<k>`.
 */
function buildMlpSr({ channels, size, classes, random, mlpLayers }: DglHeadShape): Layer {
  const reduced = Math.ceil(size / 4);
  const pooled = Math.min(reduced, 2);
  const entries: (readonly [string, Layer])[] = [['', new AdaptiveAveragePool(reduced)]];
  for (let n = 0; n < 3; n++) {
    const conv = new Conv2d({ inChannels: channels, outChannels: channels, kernelSize: 1, init: 'pytorch-default', random });
    entries.push([`blocks.${n}`, new Sequential([['0', conv], ['1', new BatchNorm({ channels })]])], relu());
  }
  entries.push(['', new AdaptiveAveragePool(pooled)], ['', new ChannelsFirstFlatten()]);
  const flat = channels * pooled * pooled;
  const hidden = channels * 4;
  const classifier: (readonly [string, Layer])[] = [];
  let inFeatures = flat;
  for (let l = 0; l < mlpLayers; l++) {
    classifier.push(
      [String(3 * l), new Linear({ inFeatures, outFeatures: hidden, random })],
      [String(3 * l + 1), new BatchNorm({ channels: hidden })],
      [String(3 * l + 2), new ReLU()],
    );
    inFeatures = hidden;
  }
  classifier.push([String(3 * mlpLayers), new Linear({ inFeatures, outFeatures: classes, random })]);
  entries.push(['classifier', new Sequential(classifier)]);
  return new Sequential(entries);
}

/**
 * The DGL head of the MLAAN experiments (METHOD §3): 3 x [conv1x1(C→128) → BN → ReLU] → GAP →
 * 3 x [Linear(→512) → BN1d → ReLU] → Linear(→ classes). Convs have no bias (a BN follows) and use
 * the ResNet init, as every conv of the MLAAN models is re-initialised that way.
 * Inner names: `features.<k>` (conv at 0, 3, 6; BN at 1, 4, 7), `classifier.<k>`.
 */
function buildMlaan({ channels, classes, random }: DglHeadShape): Layer {
  const features: (readonly [string, Layer])[] = [];
  let inChannels = channels;
  for (let n = 0; n < 3; n++) {
    features.push(
      [String(3 * n), new Conv2d({ inChannels, outChannels: 128, kernelSize: 1, init: 'resnet', random })],
      [String(3 * n + 1), new BatchNorm({ channels: 128 })],
      [String(3 * n + 2), new ReLU()],
    );
    inChannels = 128;
  }
  const classifier: (readonly [string, Layer])[] = [];
  let inFeatures = 128;
  for (let l = 0; l < 3; l++) {
    classifier.push(
      [String(3 * l), new Linear({ inFeatures, outFeatures: 512, random })],
      [String(3 * l + 1), new BatchNorm({ channels: 512 })],
      [String(3 * l + 2), new ReLU()],
    );
    inFeatures = 512;
  }
  classifier.push(['9', new Linear({ inFeatures, outFeatures: classes, random })]);
  return new Sequential([
    ['features', new Sequential(features)],
    ['', new GlobalAveragePool()],
    ['classifier', new Sequential(classifier)],
  ]);
}

/** GAP + Linear(C → classes), variables `fc.weight` / `fc.bias` (Greedy SL, the MLM test heads). */
function buildLinear({ channels, classes, random }: DglHeadShape): Layer {
  return new Sequential([
    ['', new GlobalAveragePool()],
    ['fc', new Linear({ inFeatures: channels, outFeatures: classes, random })],
  ]);
}

/** Every head `dgl({ head })` accepts, by name. */
export const DGL_HEADS = {
  'mlp-sr': {
    name: 'mlp-sr',
    description: "DGL's original MLP-SR auxiliary classifier (1x1 convs on a 4x-reduced map, then an MLP)",
    build: buildMlpSr,
  },
  mlaan: {
    name: 'mlaan',
    description: "the MLAAN authors' DGL head (3 conv1x1-128 layers, GAP, 3 Linear-512 layers)",
    build: buildMlaan,
  },
  linear: {
    name: 'linear',
    description: 'global average pool + one Linear layer',
    build: buildLinear,
  },
} as const satisfies Record<string, DglHeadConfig>;

export type DglHeadName = keyof typeof DGL_HEADS;

/**
 * An auxiliary classifier trained with cross-entropy. Variable names are `<name>.<inner>`, with
 * `name` = `dgl.<module>.<role>` (e.g. `dgl.2.cascade.fc.weight`).
 */
export class ClassificationHead implements Head {
  constructor(
    readonly name: string,
    readonly network: Layer,
    /** Input the network was built for; `size` only for heads whose layer sizes depend on it. */
    private readonly expected: { channels: number; size?: number },
  ) {}

  namedParameters(): NamedVariable[] {
    return prefixed(this.name, this.network.namedParameters());
  }

  namedBuffers(): NamedVariable[] {
    return prefixed(this.name, this.network.namedBuffers());
  }

  logits(features: tf.Tensor, context: ForwardContext): tf.Tensor {
    const [, h, w, c] = features.shape;
    if (features.rank !== 4 || c !== this.expected.channels) {
      throw new ShapeError(
        `Head ${this.name} expects NHWC features with ${this.expected.channels} channels, got [${features.shape.join(', ')}].`,
      );
    }
    if (this.expected.size !== undefined && (h !== this.expected.size || w !== this.expected.size)) {
      throw new ShapeError(
        `Head ${this.name} was built for ${this.expected.size}x${this.expected.size} maps (the backbone's inputSize), got ${h}x${w}. Feed images of the size the backbone was built for.`,
      );
    }
    return this.network.apply(features, context);
  }

  loss(features: tf.Tensor, batch: Batch, context: ForwardContext): tf.Scalar {
    return tf.tidy(() => crossEntropy(this.logits(features, context), batch.labels));
  }

  dispose(): void {
    this.network.dispose();
  }
}
