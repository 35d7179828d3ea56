/**
 * The ResNet-32 training configurations the speed benchmarks time (native-vs-pytorch.ts,
 * step-profile.ts): K and the plugins of each, matched to the MLAAN authors' code as
 * native-vs-pytorch.ts describes.
 */
import { getSplit, type CutPoint, type LocalLearningPlugin } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { withMLAAN } from '@mlaan/mlaan';

export interface TrainingConfiguration {
  K: number;
  plugins: () => LocalLearningPlugin[];
}

export const CONFIGURATIONS: Record<string, TrainingConfiguration> = {
  e2e: { K: 1, plugins: () => [] },
  'infopro-k4': { K: 4, plugins: () => [infoPro()] },
  'dgl-k8': { K: 8, plugins: () => [dgl({ head: 'linear' })] },
  'mlaan-k8': { K: 8, plugins: () => [dgl({ head: 'linear' }), ...withMLAAN({ profile: 'reference', emaDecay: 0.995 })] },
  'infopro+mlaan-k8': {
    K: 8,
    plugins: () => [
      infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }),
      ...withMLAAN({ profile: 'reference', cascadeWindow: 3, emaDecay: 0.995 }),
    ],
  },
  'infopro+mlaan-k8-paper': { K: 8, plugins: () => [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), ...withMLAAN()] },
};

export function cutsOf(configuration: TrainingConfiguration): CutPoint[] {
  return configuration.K === 1 ? [] : getSplit({ net: 'resnet32', K: configuration.K });
}
