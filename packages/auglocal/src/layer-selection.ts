import { AugLocalConfigError } from './errors.js';

/**
 * Python's `round()` on a float: to the nearest integer, halves to the even neighbour
 * (round(2.5) = 2, round(8.5) = 8, round(1.5) = 2). The authors' rules round with it, and a
 * half-up rounding picks another layer or depth exactly at the halves their formulas produce.
 */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The depth of each local module's auxiliary network, decreasing linearly towards the top
 * (the authors' `aux_depth_list` under `--pyramid`): module i of K gets
 * `max(1, round(d · (1 − i·τ/(K−2)) + i·τ/(K−2)))`, i = 0 .. K−2, so module 0 gets d and module
 * K−2 gets d·(1−τ) + τ. τ = 0 keeps every module at d (the authors' run without `--pyramid`).
 * K = 2 has one auxiliary network, of depth d (their formula divides by K−2 = 0 there).
 * The last module has no entry: it trains with the backbone's classifier.
 */
export function pyramidDepths(moduleCount: number, depth: number, coefficient: number): number[] {
  const depths: number[] = [];
  for (let i = 0; i < moduleCount - 1; i++) {
    // The authors' operation order, so that halves land where theirs do.
    const ratio = moduleCount > 2 ? (i * coefficient) / (moduleCount - 2) : 0;
    depths.push(Math.max(1, roundHalfToEven(depth * (1 - ratio) + ratio * 1)));
  }
  return depths;
}

/**
 * Which later layers an auxiliary network is made of (the authors' uniform sampling): for features
 * at layer `position` of `layerCount` (the stem is layer 0, then every block in order), the
 * `depth` layers `round(position + (layerCount − position − 1) / depth · j)`, j = 1 .. depth, which
 * always end with the last layer; every later layer when there are no more than `depth` of them.
 */
export function selectSubsequentLayers(position: number, layerCount: number, depth: number): number[] {
  if (!Number.isInteger(depth) || depth < 1) throw new AugLocalConfigError(`augLocal(): an auxiliary network needs a depth >= 1; got ${depth}.`);
  if (depth >= layerCount - 1 - position) {
    return Array.from({ length: Math.max(0, layerCount - 1 - position) }, (_, k) => position + 1 + k);
  }
  return Array.from({ length: depth }, (_, k) => roundHalfToEven(position + ((layerCount - position - 1) / depth) * (k + 1)));
}

/** One residual block of an auxiliary network. */
export interface AuxiliaryBlockPlan {
  /** The backbone layer whose width the block takes. */
  layer: number;
  inputChannels: number;
  outputChannels: number;
  stride: 1 | 2;
}

/**
 * The residual blocks of an auxiliary network on features of `inputChannels` channels: one block
 * per selected layer, with that layer's width. Downsampling follows the widths, as in the authors'
 * code: each doubling of the width owes one stride-2 block, paid by this block or the next ones
 * (a block halves the map at most once, so a jump from 16 to 64 channels halves it here and, if a
 * block follows, there; a debt left at the end is dropped, the global pooling follows anyway).
 */
export function auxiliaryBlocks(inputChannels: number, widths: readonly number[], selected: readonly number[]): AuxiliaryBlockPlan[] {
  const blocks: AuxiliaryBlockPlan[] = [];
  let channels = inputChannels;
  let halvingsOwed = 0;
  for (const layer of selected) {
    const width = widths[layer]!;
    if (width < channels) {
      throw new AugLocalConfigError(
        `augLocal(): layer ${layer} has ${width} channels, fewer than the ${channels} of the features before it; ` +
          'AugLocal builds auxiliary networks only on backbones whose widths never shrink (ResNets).',
      );
    }
    // floor(log2(floor(width / channels))), as their int(torch.log2(int(width // channels))).
    halvingsOwed += 31 - Math.clz32(Math.floor(width / channels));
    let stride: 1 | 2 = 1;
    if (halvingsOwed >= 1) {
      stride = 2;
      halvingsOwed -= 1;
    }
    blocks.push({ layer, inputChannels: channels, outputChannels: width, stride });
    channels = width;
  }
  return blocks;
}
