import {
  BatchNorm,
  Conv2d,
  GlobalAveragePool,
  Layer,
  Linear,
  NamedLayer,
  ReLU,
  Residual,
  SeededRandom,
  Sequential,
} from '@mlaan/core';
import type { AuxiliaryBlockPlan } from './layer-selection.js';

/** What an auxiliary network is built from. */
export interface AuxiliaryNetworkShape {
  /** Channels of the features the network receives. */
  inputChannels: number;
  /** Its residual blocks, one per selected later layer (`auxiliaryBlocks`). */
  blocks: readonly AuxiliaryBlockPlan[];
  /** The module's auxiliary depth d_i: at most 1 puts a BatchNorm1d before the classifier. */
  depth: number;
  classes: number;
  random: SeededRandom;
}

/**
 * A ResNet BasicBlock, as the authors' auxiliary networks make them: conv3x3(stride) → BN → ReLU →
 * conv3x3 → BN, plus a conv1x1(stride) + BN shortcut when the shape changes, then ReLU. Convs have
 * no bias and the ResNet init N(0, √(2/(k²·C_out))), batch norms 1 and 0 (their model re-initialises
 * every conv and BatchNorm2d it holds, auxiliary networks included).
 */
export function auxiliaryBlock(inputChannels: number, outputChannels: number, stride: 1 | 2, random: SeededRandom): Residual {
  const conv = (inChannels: number, kernelSize: number, convStride: number) =>
    new Conv2d({ inChannels, outChannels: outputChannels, kernelSize, stride: convStride, padding: kernelSize === 3 ? 1 : 0, init: 'resnet', random });
  return new Residual({
    main: [
      ['conv1', conv(inputChannels, 3, stride)],
      ['bn1', new BatchNorm({ channels: outputChannels })],
      ['relu', new ReLU()],
      ['conv2', conv(outputChannels, 3, 1)],
      ['bn2', new BatchNorm({ channels: outputChannels })],
    ],
    shortcut:
      stride !== 1 || inputChannels !== outputChannels
        ? [
            ['0', conv(inputChannels, 1, stride)],
            ['1', new BatchNorm({ channels: outputChannels })],
          ]
        : undefined,
    shortcutName: 'downsample',
  });
}

/**
 * The authors' `unifSamp` auxiliary network: the residual blocks of the selected later layers,
 * then adaptive average pooling to 1x1 and flatten, a BatchNorm1d when the module's depth is at
 * most 1, and Linear(→ classes) (PyTorch default init). Variable names are those of their
 * `nn.Sequential` `head`: `head.<k>.conv1.weight` for block k, `head.<n+2>.*` for the BatchNorm1d
 * and `head.<n+2>` or `head.<n+3>` for the Linear (n blocks; `n` and `n+1` are the pooling and the
 * flatten, which hold no variables).
 */
export function buildAuxiliaryNetwork({ inputChannels, blocks, depth, classes, random }: AuxiliaryNetworkShape): Layer {
  const entries: NamedLayer[] = blocks.map((b, k) => [String(k), auxiliaryBlock(b.inputChannels, b.outputChannels, b.stride, random)] as const);
  const features = blocks.length > 0 ? blocks[blocks.length - 1]!.outputChannels : inputChannels;
  // Index n: AdaptiveAvgPool2d(1), n+1: Flatten, as one layer here (no variables).
  entries.push(['', new GlobalAveragePool()]);
  let index = blocks.length + 2;
  if (depth <= 1) entries.push([String(index++), new BatchNorm({ channels: features })]);
  entries.push([String(index), new Linear({ inFeatures: features, outFeatures: classes, random })]);
  return new Sequential([['head', new Sequential(entries)]]);
}
