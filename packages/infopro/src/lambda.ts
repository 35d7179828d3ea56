import { InfoProConfigError, UndefinedLambdaError } from './errors.js';

/**
 * InfoPro's loss weights `[ixx1, ixy1, ixx2, ixy2]`: λ1 (reconstruction) and λ2 (task) at the
 * first local module and at module K-2, interpolated linearly in between (METHOD §4).
 */
export type Lambda = readonly [ixx1: number, ixy1: number, ixx2: number, ixy2: number];

export type InfoProDataset = 'cifar10' | 'svhn' | 'stl10';

export interface LambdaPreset {
  dataset: InfoProDataset;
  /** Backbone id (`Backbone.id`). */
  net: string;
  /** Number of local modules. */
  K: number;
  /** InfoPro*: the memory-balanced splits (`getSplit({ variant: 'balanced' })`). */
  balancedMemory: boolean;
  lambda: Lambda;
}

const preset = (dataset: InfoProDataset, net: string, K: number, lambda: Lambda, balancedMemory = false): LambdaPreset => ({
  dataset,
  net,
  K,
  balancedMemory,
  lambda,
});

/**
 * The λ the InfoPro authors trained with (paper, and `comand.sh` of github
 * blackfeather-wang/InfoPro-Pytorch), contrastive task loss, 1c2f heads.
 */
export const LAMBDA_PRESETS: readonly LambdaPreset[] = [
  preset('cifar10', 'resnet32', 2, [5, 1, 0, 0]),
  preset('cifar10', 'resnet32', 4, [6, 0, 1, 2]),
  preset('cifar10', 'resnet32', 8, [5, 0, 0, 2]),
  preset('cifar10', 'resnet32', 16, [5, 0.05, 0.2, 0.5]),
  preset('cifar10', 'resnet110', 2, [5, 0.5, 0, 0]),
  preset('cifar10', 'resnet110', 4, [1, 0, 0, 1]),
  preset('cifar10', 'resnet110', 8, [5, 0, 0, 1]),
  preset('cifar10', 'resnet110', 16, [5, 0, 0.5, 1]),
  preset('cifar10', 'resnet110', 2, [5, 0.1, 0, 0], true),
  preset('cifar10', 'resnet110', 3, [5, 0, 5, 0.1], true),
  preset('cifar10', 'resnet110', 4, [5, 0, 5, 0.1], true),
  preset('svhn', 'resnet110', 2, [1, 0.1, 0, 0]),
  preset('svhn', 'resnet110', 4, [5, 0, 0.5, 1]),
  preset('svhn', 'resnet110', 8, [5, 0, 0.5, 2]),
  preset('svhn', 'resnet110', 16, [5, 0.2, 0.5, 1]),
  preset('stl10', 'resnet110', 2, [10, 1, 0, 0]),
  preset('stl10', 'resnet110', 4, [20, 0.2, 5, 2]),
  preset('stl10', 'resnet110', 8, [20, 0.2, 5, 1]),
  preset('stl10', 'resnet110', 16, [20, 0.5, 10, 0.1]),
  preset('stl10', 'resnet110', 2, [20, 1, 0, 0], true),
  preset('stl10', 'resnet110', 3, [20, 0.5, 5, 2], true),
  preset('stl10', 'resnet110', 4, [20, 0.5, 10, 1], true),
];

/** λ of the MLAAN authors' InfoPro runs (`run32-cifar10.txt`), used with the cross-entropy task. */
export const MLAAN_LAMBDA: Lambda = [5, 0.5, 0, 0];

export const INFOPRO_DATASETS: readonly InfoProDataset[] = ['cifar10', 'svhn', 'stl10'];

export interface LambdaRequest {
  dataset: InfoProDataset;
  net: string;
  K: number;
  balancedMemory?: boolean;
}

/** The paper's λ for a setting; a setting the paper did not train is an `UndefinedLambdaError`. */
export function paperLambda(request: LambdaRequest): Lambda {
  const balancedMemory = request.balancedMemory ?? false;
  const found = LAMBDA_PRESETS.find(
    (p) => p.dataset === request.dataset && p.net === request.net && p.K === request.K && p.balancedMemory === balancedMemory,
  );
  if (found) return found.lambda;
  const defined = LAMBDA_PRESETS.filter((p) => p.dataset === request.dataset && p.balancedMemory === balancedMemory)
    .map((p) => `${p.net} K=${p.K}`)
    .join(', ');
  throw new UndefinedLambdaError(
    `The InfoPro paper gives no λ for ${request.dataset}, ${request.net}, K=${request.K}${balancedMemory ? ' (balanced memory)' : ''}. ` +
      `Pass infoPro({ lambda: [ixx1, ixy1, ixx2, ixy2] }) explicitly. ` +
      `Presets for ${request.dataset}${balancedMemory ? ' (balanced memory)' : ''}: ${defined || 'none'}.`,
  );
}

/** Check that λ is four finite non-negative numbers. */
export function validateLambda(lambda: unknown): Lambda {
  if (!Array.isArray(lambda) || lambda.length !== 4 || !lambda.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InfoProConfigError(
      `infoPro() lambda must be four numbers [ixx1, ixy1, ixx2, ixy2] (reconstruction and task weights at the first and last local module), got ${JSON.stringify(lambda)}.`,
    );
  }
  const negative = lambda.findIndex((v: number) => v < 0);
  if (negative >= 0) {
    const names = ['ixx1', 'ixy1', 'ixx2', 'ixy2'];
    throw new InfoProConfigError(
      `infoPro() lambda ${names[negative]} is ${lambda[negative]}; loss weights must be >= 0 (0 switches that loss off).`,
    );
  }
  return [lambda[0], lambda[1], lambda[2], lambda[3]] as const;
}

export interface ModuleWeights {
  /** λ1_i: weight of the reconstruction (BCE) loss. */
  reconstruction: number;
  /** λ2_i: weight of the task (contrastive or cross-entropy) loss. */
  task: number;
}

/**
 * λ of local module `moduleIndex` (0-based, ≤ K-2): ratio = i/(K-2) (0 when K = 2),
 * λ1 = ixx1·(1-ratio) + ixx2·ratio, λ2 = ixy1·(1-ratio) + ixy2·ratio.
 */
export function interpolateLambda(lambda: Lambda, moduleIndex: number, K: number): ModuleWeights {
  if (!Number.isInteger(moduleIndex) || moduleIndex < 0 || moduleIndex > K - 2) {
    throw new InfoProConfigError(`InfoPro weights exist for modules 0..${K - 2} of ${K}; got module ${moduleIndex}.`);
  }
  const ratio = K > 2 ? moduleIndex / (K - 2) : 0;
  return {
    reconstruction: lambda[0] * (1 - ratio) + lambda[2] * ratio,
    task: lambda[1] * (1 - ratio) + lambda[3] * ratio,
  };
}
