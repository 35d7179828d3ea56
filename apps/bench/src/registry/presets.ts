import type { Settings } from '../config.js';

/**
 * A preset fills in settings; options given on the command line override it. Settings may depend
 * on the dataset (METHOD §6 uses batch 128 / lr 0.1 for STL-10 and batch 1024 / lr 0.8 otherwise).
 */
export interface PresetDefinition {
  name: string;
  description: string;
  settings(dataset: string): Partial<Settings>;
}

/** METHOD §6: the optimiser and schedule every preset starts from. */
export function paperRecipe(dataset: string): Partial<Settings> {
  const stl = dataset === 'stl10';
  return {
    batchSize: stl ? 128 : 1024,
    learningRate: stl ? 0.1 : 0.8,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    schedule: 'cosine-warmup',
    warmupEpochs: 10,
    augment: true,
    // undefined: each framework's own (400 epochs; InfoPro 160).
    epochs: undefined,
  };
}

export const PRESETS = {
  paper: {
    name: 'paper',
    description:
      'METHOD §6: SGD Nesterov 0.9, weight decay 1e-4, batch 1024 / lr 0.8 (STL-10: 128 / 0.1), 400 epochs (InfoPro 160), ' +
      'cosine with 10-epoch warm-up, the dataset’s augmentation; E2E, DGL and InfoPro with and without MLAAN at K = 2, 4, 8, 16, 5 seeds. A GPU job.',
    settings: (dataset: string) => ({
      ...paperRecipe(dataset),
      frameworks: ['e2e', 'dgl', 'infopro'],
      pluginSets: ['none', 'mlaan'],
      Ks: [2, 4, 8, 16],
      seeds: [0, 1, 2, 3, 4],
      network: 'resnet32',
    }),
  },
  smoke: {
    name: 'smoke',
    description:
      'A few minutes on 2 CPU cores: ResNet-32, 1 epoch on 1024 CIFAR-10 training images, 512 test images, batch 64, ' +
      'constant lr 0.05; E2E, and InfoPro at K = 4 with and without MLAAN. Checks the whole pipeline, not accuracy.',
    settings: () => ({
      ...paperRecipe('cifar10'),
      frameworks: ['e2e', 'infopro'],
      pluginSets: ['none', 'mlaan'],
      Ks: [4],
      seeds: [0],
      network: 'resnet32',
      dataset: 'cifar10',
      epochs: 1,
      batchSize: 64,
      learningRate: 0.05,
      schedule: 'constant',
      warmupEpochs: 0,
      trainLimit: 1024,
      testLimit: 512,
    }),
  },
} as const satisfies Record<string, PresetDefinition>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
