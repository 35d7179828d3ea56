/**
 * Published numbers (METHOD §7) to print beside ours when the setting matches. Test errors are
 * the InfoPro paper's (ICLR 2021, Table 2/3): mean of 5 runs, 160 epochs, InfoPro with the
 * contrastive loss. Memory is its GPU memory for ResNet-110 on CIFAR-10 at batch 1024, InfoPro
 * with the memory-balanced split (InfoPro*).
 */
export interface PublishedNumber {
  dataset: string;
  network: string;
  /** Method label as in our tables: `E2E`, `DGL`, `InfoPro`. */
  method: string;
  /** Module count; 1 for E2E. */
  K: number;
  testErrorPercent?: number;
  gpuMemoryGB?: number;
  /** Conditions of the published setting that our run must share for the number to be shown. */
  requires?: { batchSize?: number; split?: 'default' | 'balanced'; frameworkOptions?: Record<string, unknown> };
  source: string;
}

const INFOPRO_PAPER = 'InfoPro paper (Wang et al., ICLR 2021), mean of 5 runs, 160 epochs; InfoPro with the contrastive loss';
const INFOPRO_MEMORY = 'InfoPro paper, GPU memory at batch 1024; InfoPro* = memory-balanced split';

function errors(dataset: string, network: string, method: string, byK: Record<number, number>): PublishedNumber[] {
  return Object.entries(byK).map(([K, value]) => ({
    dataset,
    network,
    method,
    K: Number(K),
    testErrorPercent: value,
    source: INFOPRO_PAPER,
    ...(method === 'InfoPro' ? { requires: { frameworkOptions: { task: 'contrast' } } } : {}),
  }));
}

export const PUBLISHED: readonly PublishedNumber[] = [
  ...errors('cifar10', 'resnet32', 'E2E', { 1: 7.37 }),
  ...errors('cifar10', 'resnet32', 'DGL', { 2: 8.69, 4: 11.48, 8: 14.17, 16: 16.21 }),
  ...errors('cifar10', 'resnet32', 'InfoPro', { 2: 7.76, 4: 8.58, 8: 11.13, 16: 12.75 }),
  ...errors('cifar10', 'resnet110', 'E2E', { 1: 6.5 }),
  ...errors('cifar10', 'resnet110', 'DGL', { 2: 7.7, 4: 10.5, 8: 12.46, 16: 13.8 }),
  ...errors('cifar10', 'resnet110', 'InfoPro', { 2: 6.42, 4: 7.3, 8: 8.93, 16: 9.9 }),
  ...errors('svhn', 'resnet110', 'E2E', { 1: 3.07 }),
  ...errors('svhn', 'resnet110', 'InfoPro', { 2: 3.15, 4: 3.28, 8: 3.62, 16: 3.91 }),
  ...errors('stl10', 'resnet110', 'E2E', { 1: 22.27 }),
  ...errors('stl10', 'resnet110', 'InfoPro', { 2: 20.99, 4: 22.73, 8: 25.15, 16: 26.27 }),
  { dataset: 'cifar10', network: 'resnet110', method: 'E2E', K: 1, gpuMemoryGB: 9.4, requires: { batchSize: 1024 }, source: INFOPRO_MEMORY },
  ...([[2, 5.38], [3, 4.22], [4, 3.52]] as const).map(([K, gpuMemoryGB]) => ({
    dataset: 'cifar10',
    network: 'resnet110',
    method: 'InfoPro',
    K,
    gpuMemoryGB,
    requires: { batchSize: 1024, split: 'balanced' as const },
    source: INFOPRO_MEMORY,
  })),
];

export interface PublishedQuery {
  dataset: string;
  network: string;
  method: string;
  K: number;
  batchSize: number;
  split: 'default' | 'balanced';
  /** The run's host options (its framework's, defaults filled in). */
  frameworkOptions: Record<string, unknown>;
}

function matches(entry: PublishedNumber, query: PublishedQuery): boolean {
  if (entry.dataset !== query.dataset || entry.network !== query.network || entry.method !== query.method || entry.K !== query.K) return false;
  const { requires } = entry;
  if (requires?.batchSize !== undefined && requires.batchSize !== query.batchSize) return false;
  if (requires?.split !== undefined && requires.split !== query.split) return false;
  for (const [name, value] of Object.entries(requires?.frameworkOptions ?? {})) if (query.frameworkOptions[name] !== value) return false;
  return true;
}

/** The published test error (%) and GPU memory (GB) for this setting, where the paper has one. */
export function findPublished(query: PublishedQuery): { testErrorPercent?: PublishedNumber; gpuMemoryGB?: PublishedNumber } {
  const found = PUBLISHED.filter((entry) => matches(entry, query));
  return {
    testErrorPercent: found.find((entry) => entry.testErrorPercent !== undefined),
    gpuMemoryGB: found.find((entry) => entry.gpuMemoryGB !== undefined),
  };
}
