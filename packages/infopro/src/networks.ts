import * as tf from '@tensorflow/tfjs-core';
import {
  BatchNorm,
  Conv2d,
  Flatten,
  ForwardContext,
  GlobalAveragePool,
  Layer,
  Linear,
  resizeConv2d,
  NamedVariable,
  ReLU,
  SeededRandom,
  Sequential,
  ShapeError,
} from '@mlaan/core';
import { InfoProConfigError } from './errors.js';

export type Interpolation = 'bilinear' | 'nearest';

/**
 * InfoPro's reconstruction decoder (METHOD §4): upsample the module output to the image size
 * (bilinear with aligned corners, or nearest), conv3x3(C→12·widen, bias) → BN → ReLU →
 * conv3x3(12·widen→3, bias); a sigmoid gives the image. Variables as the reference's
 * `Decoder`: `decoder.0.*` (conv), `decoder.1.*` (BN), `decoder.3.*` (conv). The upsample and
 * the first conv run as one `resizeConv2d` (same values, fewer multiply-adds, less memory).
 */
export class InfoProDecoder {
  readonly network: Sequential;
  readonly interpolation: Interpolation;
  /** The first conv (`decoder.0`), which runs fused with the resize. */
  private readonly resizedConvolution: Conv2d;
  /** BN → ReLU → conv after it. */
  private readonly rest: Sequential;

  constructor(
    readonly channels: number,
    options: { widen?: number; interpolation?: Interpolation; random?: SeededRandom } = {},
  ) {
    const hidden = Math.trunc(12 * (options.widen ?? 1));
    const random = options.random ?? new SeededRandom(0);
    this.interpolation = options.interpolation ?? 'bilinear';
    this.resizedConvolution = new Conv2d({ inChannels: channels, outChannels: hidden, kernelSize: 3, padding: 1, bias: true, random });
    const rest: [string, Layer][] = [
      ['1', new BatchNorm({ channels: hidden })],
      ['2', new ReLU()],
      ['3', new Conv2d({ inChannels: hidden, outChannels: 3, kernelSize: 3, padding: 1, bias: true, random })],
    ];
    this.rest = new Sequential(rest);
    this.network = new Sequential([['decoder', new Sequential([['0', this.resizedConvolution], ...rest])]]);
  }

  namedParameters(): NamedVariable[] {
    return this.network.namedParameters();
  }

  namedBuffers(): NamedVariable[] {
    return this.network.namedBuffers();
  }

  /** Module output h [N, h, w, C] → pre-sigmoid image [N, height, width, 3]. */
  logits(features: tf.Tensor, imageSize: readonly [number, number], context: ForwardContext): tf.Tensor {
    if (features.rank !== 4 || features.shape[3] !== this.channels) {
      throw new ShapeError(`InfoPro decoder expects NHWC features with ${this.channels} channels, got [${features.shape.join(', ')}].`);
    }
    return tf.tidy(() => {
      // The resize and the first conv are both linear: resizeConv2d runs the conv's taps on the
      // small map when that is cheaper, never holding the full-size C-channel map or its gradient.
      const conv = this.resizedConvolution;
      const convolved = resizeConv2d(features as tf.Tensor4D, conv.weight as tf.Tensor4D, imageSize, {
        padding: conv.padding,
        interpolation: this.interpolation,
      });
      return this.rest.apply(tf.add(convolved, conv.bias!), context);
    });
  }

  /** The reconstructed image in [0, 1]. */
  reconstruct(features: tf.Tensor, imageSize: readonly [number, number], context: ForwardContext): tf.Tensor {
    return tf.tidy(() => tf.sigmoid(this.logits(features, imageSize, context)));
  }

  dispose(): void {
    this.network.dispose();
  }
}

/** The auxiliary head configurations of InfoPro's code: `<convs>c<linear layers>f`. */
export const AUX_HEAD_CONFIGS = {
  '0c1f': { convolutions: 0, linearLayers: 1, description: 'GAP → Linear(C → out) (greedy supervised learning)' },
  '0c2f': { convolutions: 0, linearLayers: 2, description: 'GAP → Linear(C → 128) → ReLU → Linear(→ out)' },
  '1c1f': { convolutions: 1, linearLayers: 1, description: 'conv3x3 → BN → ReLU → GAP → Linear(→ out)' },
  '1c2f': { convolutions: 1, linearLayers: 2, description: 'conv3x3 → BN → ReLU → GAP → Linear(→ 128) → ReLU → Linear(→ out)' },
  '1c3f': { convolutions: 1, linearLayers: 3, description: 'conv3x3 → BN → ReLU → GAP → 2 x [Linear(→ 128) → ReLU] → Linear(→ out)' },
  '2c2f': { convolutions: 2, linearLayers: 2, description: '2 x [conv3x3 → BN → ReLU] → GAP → Linear(→ 128) → ReLU → Linear(→ out)' },
} as const;

export type AuxHeadName = keyof typeof AUX_HEAD_CONFIGS;

/**
 * The first conv of the reference's heads by input width: 16 → 32 and 32 → 64 with stride 2,
 * 64 → 64 with stride 1 (the CIFAR ResNet stage widths). Other widths have no reference head.
 */
const FIRST_CONVOLUTION: Readonly<Record<number, { width: number; stride: number }>> = {
  16: { width: 32, stride: 2 },
  32: { width: 64, stride: 2 },
  64: { width: 64, stride: 1 },
};

export interface AuxHeadOptions {
  config: AuxHeadName;
  /** Input channels (the module output's). */
  channels: number;
  /** Output width: the feature dimension (contrastive) or the number of classes. */
  outputs: number;
  /** Hidden width multiplier of convs and hidden Linear layers (reference `aux_net_widen`). */
  widen?: number;
  /** Hidden Linear width before `widen` (reference `aux_net_feature_dim`). */
  featureDimension?: number;
  random?: SeededRandom;
}

/**
 * InfoPro's auxiliary head (reference `AuxClassifier.head`): a Sequential whose indices follow the
 * PyTorch one, pooling and flatten included, so `1c2f` has `head.0` conv, `head.1` BN, `head.5`
 * and `head.7` Linear.
 */
export function buildAuxHead(options: AuxHeadOptions): Sequential {
  const config = AUX_HEAD_CONFIGS[options.config];
  const widen = options.widen ?? 1;
  const hidden = Math.trunc((options.featureDimension ?? 128) * widen);
  const random = options.random ?? new SeededRandom(0);
  const entries: [string, Layer][] = [];
  const add = (layer: Layer) => entries.push([String(entries.length), layer]);
  let channels = options.channels;
  if (config.convolutions > 0) {
    const first = FIRST_CONVOLUTION[channels];
    if (!first) {
      throw new InfoProConfigError(
        `Aux head '${options.config}' is defined for 16-, 32- or 64-channel module outputs (the CIFAR ResNet widths), got ${channels}. Use auxHead '0c1f' or '0c2f', which take any width.`,
      );
    }
    const width = Math.trunc(first.width * widen);
    for (let k = 0; k < config.convolutions; k++) {
      add(new Conv2d({ inChannels: channels, outChannels: width, kernelSize: 3, stride: k === 0 ? first.stride : 1, padding: 1, random }));
      add(new BatchNorm({ channels: width }));
      add(new ReLU());
      channels = width;
    }
  }
  add(new GlobalAveragePool());
  add(new Flatten());
  let features = channels;
  for (let l = 0; l < config.linearLayers - 1; l++) {
    add(new Linear({ inFeatures: features, outFeatures: hidden, random }));
    add(new ReLU());
    features = hidden;
  }
  add(new Linear({ inFeatures: features, outFeatures: options.outputs, random }));
  return new Sequential([['head', new Sequential(entries)]]);
}
