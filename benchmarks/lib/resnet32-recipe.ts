/**
 * The pipeline recipe of benchmarks/module-parallel.ts: ResNet-32 at K modules with DGL, InfoPro,
 * DGL + MLM, InfoPro + MLM or InfoPro + MLAAN, the same model for the sequential trainer and for every pipeline worker.
 */
import { getSplit, type LocalLearningPlugin, type TrainerOptions } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { mlm, withMLAAN } from '@mlaan/mlaan';
import { resnet32 } from '@mlaan/models';

export type Method = 'dgl' | 'dgl+mlm' | 'infopro' | 'infopro+mlm' | 'infopro+mlaan';

export interface Resnet32RecipeOptions {
  method: Method;
  K: number;
  seed?: number;
}

const PLUGINS: Record<Method, () => LocalLearningPlugin[]> = {
  dgl: () => [dgl()],
  'dgl+mlm': () => [dgl(), mlm()],
  infopro: () => [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' })],
  'infopro+mlm': () => [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), mlm()],
  'infopro+mlaan': () => [infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }), ...withMLAAN()],
};

export default function resnet32Recipe({ method, K, seed = 0 }: Resnet32RecipeOptions): TrainerOptions {
  return {
    backbone: resnet32({ seed }),
    cuts: getSplit({ net: 'resnet32', K }),
    plugins: PLUGINS[method](),
    optimizer: { learningRate: 0.1 },
    seed,
  };
}
