import { paperRecipe, type Settings } from '../configuration/settings.js';

/**
 * A preset fills in settings; options given on the command line override it. Settings may depend
 * on the dataset (METHOD §6 uses batch 128 / lr 0.1 for STL-10 and batch 1024 / lr 0.8 otherwise).
 */
export interface PresetDefinition {
  name: string;
  description: string;
  settings(dataset: string): Partial<Settings>;
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
    // Cross-entropy as the authors' runs; GAP → Linear → ReLU → Linear heads: the 1c2f heads take only
    // the CIFAR widths (16-64 channels).
    frameworkOptions: { infopro: { task: 'cross-entropy', auxHead: '0c2f' } },
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
  mini: {
    name: 'mini',
    description:
      'A CPU-sized protocol (hours on 2 cores): ResNet-32, 10,000 class-balanced CIFAR-10 training images, the full test set, ' +
      '10 epochs, batch 128, lr 0.1 per-epoch cosine annealing (no warm-up, no epoch at lr 0), SGD Nesterov 0.9, weight decay 1e-4, augmentation; ' +
      'seeds 0 and 1; rows DGL K=8 ± MLAAN, E2E, InfoPro K=4 ± MLAAN, DGL+MLM and DGL+LAM K=8, seed 0 of each before seed 1.',
    settings: () => ({
      ...paperRecipe('cifar10'),
      frameworks: ['e2e', 'dgl', 'infopro'],
      pluginSets: ['none', 'mlm', 'lam', 'mlaan'],
      Ks: [4, 8],
      // DGL K=8 and DGL+MLAAN K=8 first: the comparison that matters, so a grid cut short still has it.
      rows: [
        { framework: 'dgl', plugins: 'none', K: 8 },
        { framework: 'dgl', plugins: 'mlaan', K: 8 },
        { framework: 'e2e', plugins: 'none', K: 1 },
        { framework: 'infopro', plugins: 'none', K: 4 },
        { framework: 'infopro', plugins: 'mlaan', K: 4 },
        { framework: 'dgl', plugins: 'mlm', K: 8 },
        { framework: 'dgl', plugins: 'lam', K: 8 },
      ],
      seeds: [0, 1],
      network: 'resnet32',
      dataset: 'cifar10',
      epochs: 10,
      batchSize: 128,
      learningRate: 0.1,
      // Per-epoch cosine starting at lr: METHOD §6's cosine would train the last of 10 epochs at 0.
      schedule: 'cosine-annealing',
      warmupEpochs: 0,
      trainLimit: 10_000,
      testLimit: undefined,
    }),
  },
  demo: {
    name: 'demo',
    description:
      'The main job, 3 min 11 s on 2 idle CPU cores with the onednn backend, the build included (timed on a fresh clone, 2026-12-05) ' +
      '(benchmarks/demo/README.md): ResNet-32 on 5,120 CIFAR-10 training images and 2,000 test images, 2 epochs, batch 64, constant lr 0.05; ' +
      'E2E, and DGL K=8 with GAP+Linear heads with and without MLAAN (the authors’ CIFAR code: reference profile). Shows what MLAAN changes, ' +
      'beside the spread of the seed runs in benchmarks/demo/seeds/, and what each method’s step costs; not the paper’s numbers.',
    settings: () => ({
      ...paperRecipe('cifar10'),
      frameworks: ['e2e', 'dgl'],
      pluginSets: ['none', 'mlaan'],
      // K=8 with GAP+Linear heads: the mini grid's largest MLAAN gain with the smallest seed spread
      // (benchmarks/mini/README.md). Chosen by seed runs (benchmarks/demo/README.md): a cosine down to
      // lr 0.0125 in a third epoch let the host catch up to within the seeds' spread; 2 epochs at a
      // constant lr keep MLAAN's lead and cost two thirds of the time.
      Ks: [8],
      seeds: [0],
      network: 'resnet32',
      dataset: 'cifar10',
      epochs: 2,
      batchSize: 64,
      learningRate: 0.05,
      schedule: 'constant',
      warmupEpochs: 0,
      trainLimit: 5120,
      testLimit: 2000,
      frameworkOptions: { dgl: { head: 'linear' } },
      mlaanProfile: 'reference',
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
