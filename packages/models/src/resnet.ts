import {
  Backbone,
  BackboneBlock,
  BatchNorm,
  ConfigError,
  Conv2d,
  defineOptions,
  GlobalAveragePool,
  Layer,
  Linear,
  MaxPool2d,
  option,
  ReLU,
  Residual,
  SeededRandom,
  Sequential,
} from '@mlaan/core';

export interface ResNetOptions {
  /** Number of classes of the final linear layer (default 10 for the CIFAR ResNets, 1000 for the ImageNet ones). */
  classes?: number;
  /** Seed of the initialisation (default 0). */
  seed?: number;
}

export interface ImageNetResNetOptions extends ResNetOptions {
  /** Side of the square input images (default 224); at least 32, the network's total stride. */
  inputSize?: number;
}

/**
 * The networks' options as core's option rules: unknown keys (`clases`) and bad values are
 * ConfigErrors naming the call, the option and what it takes, before anything is built.
 */
function cifarOptions(call: string) {
  return defineOptions({
    call,
    error: ConfigError,
    rules: { classes: option.integer({ min: 2 }, 10), seed: option.integer({}, 0) },
  });
}

function imagenetOptions(call: string) {
  return defineOptions({
    call,
    error: ConfigError,
    rules: { classes: option.integer({ min: 2 }, 1000), seed: option.integer({}, 0), inputSize: option.integer({ min: 32 }, 224) },
  });
}

function basicBlock(inputChannels: number, outputChannels: number, stride: number, random: SeededRandom): Residual {
  const main = [
    ['conv1', new Conv2d({ inChannels: inputChannels, outChannels: outputChannels, kernelSize: 3, stride, padding: 1, random })],
    ['bn1', new BatchNorm({ channels: outputChannels })],
    ['relu', new ReLU()],
    ['conv2', new Conv2d({ inChannels: outputChannels, outChannels: outputChannels, kernelSize: 3, stride: 1, padding: 1, random })],
    ['bn2', new BatchNorm({ channels: outputChannels })],
  ] as const;
  const shortcut =
    stride !== 1 || inputChannels !== outputChannels
      ? ([
          ['0', new Conv2d({ inChannels: inputChannels, outChannels: outputChannels, kernelSize: 1, stride, padding: 0, random })],
          ['1', new BatchNorm({ channels: outputChannels })],
        ] as const)
      : undefined;
  return new Residual({ main, shortcut, shortcutName: 'downsample' });
}

const BOTTLENECK_EXPANSION = 4;

function bottleneck(inputChannels: number, width: number, stride: number, random: SeededRandom): Residual {
  const out = width * BOTTLENECK_EXPANSION;
  const main = [
    ['conv1', new Conv2d({ inChannels: inputChannels, outChannels: width, kernelSize: 1, random })],
    ['bn1', new BatchNorm({ channels: width })],
    ['relu1', new ReLU()],
    ['conv2', new Conv2d({ inChannels: width, outChannels: width, kernelSize: 3, stride, padding: 1, random })],
    ['bn2', new BatchNorm({ channels: width })],
    ['relu2', new ReLU()],
    ['conv3', new Conv2d({ inChannels: width, outChannels: out, kernelSize: 1, random })],
    ['bn3', new BatchNorm({ channels: out })],
  ] as const;
  const shortcut =
    stride !== 1 || inputChannels !== out
      ? ([
          ['0', new Conv2d({ inChannels: inputChannels, outChannels: out, kernelSize: 1, stride, random })],
          ['1', new BatchNorm({ channels: out })],
        ] as const)
      : undefined;
  return new Residual({ main, shortcut, shortcutName: 'downsample' });
}

function classifier(features: number, classes: number, random: SeededRandom): Layer {
  return new Sequential([
    ['', new GlobalAveragePool()],
    ['fc', new Linear({ inFeatures: features, outFeatures: classes, random })],
  ]);
}

/**
 * CIFAR ResNet (METHOD §1): conv3x3(3→16) + BN + ReLU stem, three stages of `depth` BasicBlocks
 * with widths 16/32/64 (stride 2 at the start of stages 2 and 3), GAP + Linear(64 → classes).
 * Variable names are PyTorch's (`layer2.0.downsample.0.weight`).
 */
export function cifarResNet(id: string, blocksPerStage: number, options: ResNetOptions = {}): Backbone {
  const { classes, seed } = cifarOptions(`${id}()`).resolve(options);
  const random = new SeededRandom(seed);
  const stem: BackboneBlock = {
    stage: 0,
    index: 0,
    name: '',
    layer: new Sequential([
      ['conv1', new Conv2d({ inChannels: 3, outChannels: 16, kernelSize: 3, stride: 1, padding: 1, random })],
      ['bn1', new BatchNorm({ channels: 16 })],
      ['relu', new ReLU()],
    ]),
    inputChannels: 3,
    outputChannels: 16,
    outputStride: 1,
  };
  const blocks: BackboneBlock[] = [];
  let channels = 16;
  let outputStride = 1;
  [16, 32, 64].forEach((width, s) => {
    for (let b = 0; b < blocksPerStage; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      outputStride *= stride;
      blocks.push({
        stage: s + 1,
        index: b,
        name: `layer${s + 1}.${b}`,
        layer: basicBlock(channels, width, stride, random),
        inputChannels: channels,
        outputChannels: width,
        outputStride,
      });
      channels = width;
    }
  });
  return new Backbone({ id, stem, blocks, classifier: classifier(64, classes, random), classes, inputSize: 32 });
}

export function resnet32(options: ResNetOptions = {}): Backbone {
  return cifarResNet('resnet32', 5, options);
}

export function resnet110(options: ResNetOptions = {}): Backbone {
  return cifarResNet('resnet110', 18, options);
}

/**
 * ImageNet ResNet: 7x7/2 conv + BN + ReLU + 3x3/2 max-pool stem, four stages (64/128/256/512),
 * BasicBlocks (ResNet-34) or Bottlenecks (ResNet-101), GAP + Linear.
 */
export function imagenetResNet(
  id: string,
  depths: readonly number[],
  kind: 'basic' | 'bottleneck',
  options: ImageNetResNetOptions = {},
): Backbone {
  const { classes, seed, inputSize } = imagenetOptions(`${id}()`).resolve(options);
  const random = new SeededRandom(seed);
  const stem: BackboneBlock = {
    stage: 0,
    index: 0,
    name: '',
    layer: new Sequential([
      ['conv1', new Conv2d({ inChannels: 3, outChannels: 64, kernelSize: 7, stride: 2, padding: 3, random })],
      ['bn1', new BatchNorm({ channels: 64 })],
      ['relu', new ReLU()],
      ['maxpool', new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 })],
    ]),
    inputChannels: 3,
    outputChannels: 64,
    outputStride: 4,
  };
  const blocks: BackboneBlock[] = [];
  let channels = 64;
  let outputStride = 4;
  const expansion = kind === 'bottleneck' ? BOTTLENECK_EXPANSION : 1;
  [64, 128, 256, 512].forEach((width, s) => {
    for (let b = 0; b < depths[s]!; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      outputStride *= stride;
      const out = width * expansion;
      blocks.push({
        stage: s + 1,
        index: b,
        name: `layer${s + 1}.${b}`,
        layer: kind === 'bottleneck' ? bottleneck(channels, width, stride, random) : basicBlock(channels, width, stride, random),
        inputChannels: channels,
        outputChannels: out,
        outputStride,
      });
      channels = out;
    }
  });
  return new Backbone({
    id,
    stem,
    blocks,
    classifier: classifier(channels, classes, random),
    classes,
    inputSize,
  });
}

export function resnet34(options: ImageNetResNetOptions = {}): Backbone {
  return imagenetResNet('resnet34', [3, 4, 6, 3], 'basic', options);
}

export function resnet101(options: ImageNetResNetOptions = {}): Backbone {
  return imagenetResNet('resnet101', [3, 4, 23, 3], 'bottleneck', options);
}

/** Plain config objects: network id -> factory. */
export const NETWORKS = {
  resnet32,
  resnet110,
  resnet34,
  resnet101,
} as const satisfies Record<string, (options?: ResNetOptions) => Backbone>;

export type NetworkName = keyof typeof NETWORKS;

/** The network `name` (a key of NETWORKS) with its options; an unknown name is a ConfigError listing them. */
export function createNetwork(name: string, options: ResNetOptions = {}): Backbone {
  const factory = Object.prototype.hasOwnProperty.call(NETWORKS, name) ? NETWORKS[name as NetworkName] : undefined;
  if (!factory) throw new ConfigError(`Unknown network '${name}'. Available: ${Object.keys(NETWORKS).join(', ')}.`);
  return factory(options);
}
