import { UnknownSplitError } from '../errors.js';
import type { CutPoint } from './partition.js';

/** Blocks per residual stage of each network the tables know. */
export const STAGE_DEPTHS: Readonly<Record<string, readonly number[]>> = {
  resnet32: [5, 5, 5],
  resnet110: [18, 18, 18],
  resnet34: [3, 4, 6, 3],
  resnet101: [3, 4, 23, 3],
};

type SplitTable = Readonly<Record<string, Readonly<Record<number, readonly CutPoint[]>>>>;

/** METHOD §2: cut points of the DGL/InfoPro/MLAAN papers. */
export const SPLITS: SplitTable = {
  resnet32: {
    1: [],
    2: [[2, 1]],
    3: [[1, 4], [2, 4]],
    4: [[1, 2], [2, 1], [3, 0]],
    8: [[1, 0], [1, 2], [1, 4], [2, 1], [2, 3], [3, 0], [3, 2]],
    16: [[0, 0], [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [3, 0], [3, 1], [3, 2], [3, 3]],
  },
  resnet110: {
    1: [],
    2: [[2, 8]],
    3: [[1, 17], [2, 17]],
    4: [[1, 11], [2, 7], [3, 3]],
    8: [[1, 4], [1, 11], [2, 0], [2, 7], [2, 14], [3, 3], [3, 10]],
    16: [[1, 1], [1, 4], [1, 7], [1, 10], [1, 13], [1, 16], [2, 1], [2, 4], [2, 7], [2, 11], [2, 15], [3, 1], [3, 5], [3, 9], [3, 13]],
  },
  resnet34: { 1: [] },
  resnet101: { 1: [] },
};

/** InfoPro*'s memory-balanced splits (ResNet-110, CIFAR-10). */
export const BALANCED_SPLITS: SplitTable = {
  resnet110: {
    2: [[1, 14]],
    3: [[1, 9], [2, 2]],
    4: [[1, 6], [1, 14], [2, 8]],
  },
};

export type SplitVariant = 'default' | 'balanced';

/**
 * One block per module, the stem merged into the first (what the MLAAN code calls "K=16" for
 * ResNet-32: 15 modules, and "K=55" for ResNet-110: 54).
 */
export function perBlockCuts(depths: readonly number[]): CutPoint[] {
  const cuts: CutPoint[] = [];
  depths.forEach((depth, s) => {
    for (let b = 0; b < depth; b++) cuts.push([s + 1, b]);
  });
  cuts.pop();
  return cuts;
}

export interface SplitRequest {
  net: string;
  /** Number of modules, or `'per-block'`. */
  K: number | 'per-block';
  variant?: SplitVariant;
}

/** The valid K values for a network and variant, for error messages and CLIs. */
export function availableSplits(net: string, variant: SplitVariant = 'default'): (number | 'per-block')[] {
  const table = variant === 'balanced' ? BALANCED_SPLITS : SPLITS;
  const ks: (number | 'per-block')[] = Object.keys(table[net] ?? {}).map(Number);
  if (variant === 'default' && STAGE_DEPTHS[net]) ks.push('per-block');
  return ks;
}

/** Cut points for (net, K); an unknown pair is an error that lists the valid K. */
export function getSplit(request: SplitRequest): CutPoint[] {
  const { net, K } = request;
  const variant = request.variant ?? 'default';
  const depths = STAGE_DEPTHS[net];
  if (!depths) {
    throw new UnknownSplitError(`Unknown network '${net}'. Known networks: ${Object.keys(STAGE_DEPTHS).join(', ')}.`);
  }
  if (K === 'per-block') {
    if (variant !== 'default') throw new UnknownSplitError(`The per-block split has no '${variant}' variant.`);
    return perBlockCuts(depths);
  }
  const table = (variant === 'balanced' ? BALANCED_SPLITS : SPLITS)[net] ?? {};
  const cuts = table[K];
  if (!cuts) {
    const valid = availableSplits(net, variant);
    throw new UnknownSplitError(
      `No ${variant === 'balanced' ? 'balanced-memory ' : ''}split of ${net} into K=${K} modules. ` +
        `Valid K for ${net}${variant === 'balanced' ? ' (balanced)' : ''}: ${valid.join(', ') || 'none'}. ` +
        'Pass explicit cut points to partition() for any other split.',
    );
  }
  return cuts.map((c) => [c[0], c[1]] as const);
}
