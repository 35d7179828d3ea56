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

/** The MLAAN authors' ImageNet runs (`ImageNet/run.txt`, `imagenet_DDP.py`); leap lists: @mlaan/lam IMAGENET_LEAP_TABLES. */
export function imagenetRecipe(): Partial<Settings> {
  return {
    frameworks: ['e2e', 'dgl', 'infopro'],
    pluginSets: ['none', 'mlaan'],
    // The authors' "K = 16" for ResNet-34 is one module per block (configs.py); so is ResNet-101's 33.
    Ks: ['per-block'],
    seeds: [0],
    network: 'resnet34',
    dataset: 'imagenet',
    epochs: 150,
    batchSize: 128,
    learningRate: 0.05,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    schedule: 'cosine',
    warmupEpochs: 0,
    augment: true,
    infoproTask: 'cross-entropy',
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
  'paper-imagenet': {
    name: 'paper-imagenet',
    description:
      'METHOD §6 ImageNet, as the authors’ ImageNet/ code: ResNet-34 with one module per residual block (K = 16; ' +
      'ResNet-101: add --network resnet101, 33 modules), SGD Nesterov 0.9, weight decay 1e-4, batch 128, lr 0.05, ' +
      'cosine over 150 epochs without warm-up, random resized crop 224 + flip (eval: resize 256, centre crop 224); ' +
      'E2E, DGL and InfoPro (cross-entropy, λ (5, 0.5, 0, 0)) with and without MLAAN (kc 3, EMA 0.995), 1 seed. ' +
      'A multi-GPU job: needs ImageNet under <data-dir>/imagenet/{train,val}.',
    settings: () => imagenetRecipe(),
  },
} as const satisfies Record<string, PresetDefinition>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
