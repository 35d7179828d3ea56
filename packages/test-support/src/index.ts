// Test helpers in one place for the host packages (private workspace package, never published):
// core's own (`@mlaan/core/testing`: tiny backbone, random batches, the linear test host, leak
// checks), re-exported, and those that need models, data files or a backend choice. Core's own
// tests import `@mlaan/core/testing` directly, as core cannot depend on this package.
export * from '@mlaan/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSteps, selectBackend, Backbone, BackboneBlock, Batch, GlobalAveragePool, Linear, LocalTrainer, SeededRandom, Sequential, StepResult } from '@mlaan/core';
import { cifarResNet } from '@mlaan/models';
import { testResidualBlock, testStem } from '@mlaan/core/testing';

/**
 * The wasm backend (with core's training kernels) when it loads, else cpu: wasm runs these
 * tests about 100x faster. MLAAN_TEST_BACKEND=cpu forces the cpu backend.
 */
export async function useTestBackend(): Promise<string> {
  const wanted = process.env.MLAAN_TEST_BACKEND ?? 'wasm';
  if (wanted === 'wasm') {
    try {
      await selectBackend('wasm', { log: () => {} });
      return tf.getBackend();
    } catch {
      // fall through to cpu
    }
  }
  await selectBackend('cpu', { log: () => {} });
  return tf.getBackend();
}

export const CIFAR_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255] as const;
export const CIFAR_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255] as const;

/** ResNet-8: the CIFAR ResNet with one BasicBlock per stage (widths 16/32/64), for quick tests. */
export function resnet8(seed = 0): Backbone {
  return cifarResNet('resnet8', 1, { seed });
}

/**
 * A CIFAR ResNet with `blocksPerStage` BasicBlocks per stage (widths 16/32/64), for `inputSize`²
 * images (32 by default; tests train on 8x8 ones for speed). Its id is not a
 * paper network's, so no per-network table (leap lists, InfoPro lambdas) applies to it.
 */
export function smallResNet(blocksPerStage: number, seed = 0, classes = 10, inputSize = 32): Backbone {
  return atInputSize(cifarResNet(`resnet-test-${blocksPerStage}`, blocksPerStage, { seed, classes }), inputSize);
}

/**
 * The same network (the same layers and variables) declared for `inputSize`² images: tests train
 * the paper networks on small images for speed, and a trainer sizes its heads, and checks its
 * batches, by the backbone's inputSize.
 */
export function atInputSize(backbone: Backbone, inputSize: number): Backbone {
  if (inputSize === backbone.inputSize) return backbone;
  const { id, stem, blocks, classifier, classes } = backbone;
  return new Backbone({ id, stem, blocks: [...blocks], classifier, classes, inputSize });
}

/**
 * A narrow CIFAR ResNet for tests on the slow cpu backend: the ResNet-32 layout (stem, three
 * stages, stride 2 at stages 2 and 3, PyTorch names) with one block per stage and widths
 * w / 2w / 4w (default 4 / 8 / 16).
 */
export function tinyResNet(options: { width?: number; seed?: number; inputSize?: number; classes?: number } = {}): Backbone {
  const w = options.width ?? 4;
  const random = new SeededRandom(options.seed ?? 0);
  const block = (inC: number, outC: number, stride: number) => testResidualBlock(inC, outC, stride, random);
  const stem = testStem(w, random);
  const blocks: BackboneBlock[] = [
    { stage: 1, index: 0, name: 'layer1.0', layer: block(w, w, 1), inputChannels: w, outputChannels: w, outputStride: 1 },
    { stage: 2, index: 0, name: 'layer2.0', layer: block(w, 2 * w, 2), inputChannels: w, outputChannels: 2 * w, outputStride: 2 },
    { stage: 3, index: 0, name: 'layer3.0', layer: block(2 * w, 4 * w, 2), inputChannels: 2 * w, outputChannels: 4 * w, outputStride: 4 },
  ];
  const classes = options.classes ?? 10;
  const classifier = new Sequential([
    ['', new GlobalAveragePool()],
    ['fc', new Linear({ inFeatures: 4 * w, outFeatures: classes, random })],
  ]);
  return new Backbone({ id: 'tiny-resnet', stem, blocks, classifier, classes, inputSize: options.inputSize ?? 32 });
}

/**
 * The CIFAR-10 binary folder: $MLAAN_DATA_DIR, else the repository's ../shared/datasets;
 * undefined when neither holds it, so suites can skip (`describe.skipIf(!cifarFolder())`).
 */
export function cifarFolder(): string | undefined {
  for (const root of dataRoots()) {
    for (const folder of [join(root, 'cifar10', 'cifar-10-batches-bin'), join(root, 'cifar-10-batches-bin')]) {
      if (existsSync(join(folder, 'data_batch_1.bin'))) return folder;
    }
  }
  return undefined;
}

function dataRoots(): string[] {
  return [process.env.MLAAN_DATA_DIR, resolve(sharedFolder(), 'datasets')].filter(Boolean) as string[];
}

/** The repository's ../shared (datasets, golden fixtures), as every suite finds it. */
function sharedFolder(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared');
}

/** The datasets folder: $MLAAN_DATA_DIR, else the repository's ../shared/datasets (it may not exist). */
export function dataFolder(): string {
  return process.env.MLAAN_DATA_DIR ?? resolve(sharedFolder(), 'datasets');
}

/**
 * A golden fixture of the authors' PyTorch code: `$MLAAN_GOLDEN_DIR/<name>`, else the repository's
 * ../shared/golden/<name> (without a name, the folder of them all); it may not exist, so suites
 * skip with `describe.skipIf(!existsSync(goldenFolder(name)))`.
 */
export function goldenFolder(name = ''): string {
  return join(process.env.MLAAN_GOLDEN_DIR ?? resolve(sharedFolder(), 'golden'), name);
}

/**
 * The first `count` training images of data_batch_1 as normalised NHWC batches of `batchSize`.
 * `downsample` = 2 averages 2x2 pixel blocks (16x16 images) to keep cpu-backend tests short.
 */
export function cifarBatches(count: number, batchSize: number, options: { downsample?: 1 | 2 } = {}): Batch[] {
  const folder = cifarFolder();
  if (!folder) throw new Error(`CIFAR-10 binary files not found under ${dataRoots().join(' or ')}; set MLAAN_DATA_DIR.`);
  const factor = options.downsample ?? 1;
  const recordBytes = 1 + 3 * 1024;
  const bytes = Buffer.alloc(count * recordBytes);
  const fd = openSync(join(folder, 'data_batch_1.bin'), 'r');
  try {
    readSync(fd, bytes, 0, bytes.length, 0);
  } finally {
    closeSync(fd);
  }
  const side = 32 / factor;
  const batches: Batch[] = [];
  for (let start = 0; start + batchSize <= count; start += batchSize) {
    const pixels = new Float32Array(batchSize * side * side * 3);
    const labels = new Int32Array(batchSize);
    for (let n = 0; n < batchSize; n++) {
      const record = (start + n) * recordBytes;
      labels[n] = bytes[record]!;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < side; y++) {
          for (let x = 0; x < side; x++) {
            let sum = 0;
            for (let dy = 0; dy < factor; dy++) {
              for (let dx = 0; dx < factor; dx++) {
                sum += bytes[record + 1 + c * 1024 + (y * factor + dy) * 32 + x * factor + dx]!;
              }
            }
            const value = sum / (factor * factor) / 255;
            pixels[((n * side + y) * side + x) * 3 + c] = (value - CIFAR_MEAN[c]!) / CIFAR_STD[c]!;
          }
        }
      }
    }
    batches.push({
      inputs: tf.tensor4d(pixels, [batchSize, side, side, 3]),
      labels: tf.tensor1d(labels, 'int32'),
      normalization: { mean: [...CIFAR_MEAN], std: [...CIFAR_STD] },
    });
  }
  return batches;
}

/** Train for `epochs` over `batches`; the mean of every loss term per epoch (each epoch read in one transfer). */
export async function trainEpochs(trainer: LocalTrainer, batches: Batch[], epochs: number): Promise<Record<string, number>[]> {
  const history: Record<string, number>[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const results: StepResult[] = [];
    for (const batch of batches) {
      results.push(trainer.step(batch));
      // Yield so the test runner's worker can answer its heartbeat during long runs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const sums: Record<string, number> = {};
    for (const { losses } of await readSteps(results)) {
      for (const [name, value] of Object.entries(losses)) sums[name] = (sums[name] ?? 0) + value / batches.length;
    }
    history.push(sums);
  }
  return history;
}

/**
 * A deterministic random batch of `imageSize`² CIFAR-normalised images (tfjs's generator; core's
 * `randomBatch` is the small 8x8 one of the tiny test backbone).
 */
export function randomImageBatch(size: number, seed = 1, classes = 10, imageSize = 32): Batch {
  return tf.tidy(() => ({
    inputs: tf.randomNormal([size, imageSize, imageSize, 3], 0, 1, 'float32', seed) as tf.Tensor4D,
    labels: tf.tensor1d(Array.from({ length: size }, (_, i) => (i * 7 + seed) % classes), 'int32'),
    normalization: { mean: [...CIFAR_MEAN], std: [...CIFAR_STD] },
  }));
}
