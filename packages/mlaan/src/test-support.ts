// Test-only helpers (not exported from the package).
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Backbone,
  Batch,
  crossEntropy,
  GlobalAveragePool,
  Head,
  Linear,
  LocalLearningPlugin,
  NamedVariable,
  prefixed,
  SeededRandom,
  Sequential,
} from '@mlaan/core';
import { cifarResNet } from '@mlaan/models';

/**
 * A minimal host: GAP + Linear + cross-entropy for every (module, role) but the last module, sized
 * from `request.input` (so a LAM in front of the head is accounted for).
 */
export function linearHost(seed = 21): LocalLearningPlugin {
  const random = new SeededRandom(seed);
  return {
    name: 'linear-host',
    createHead(request, context) {
      if (request.isLast) return undefined;
      const prefix = `head.${request.moduleIndex}.${request.role}`;
      const network = new Sequential([
        ['', new GlobalAveragePool()],
        ['fc', new Linear({ inFeatures: request.input.channels, outFeatures: context.classes, random })],
      ]);
      const head: Head = {
        name: prefix,
        namedParameters: (): NamedVariable[] => prefixed(prefix, network.namedParameters()),
        loss: (features, batch, ctx) => tf.tidy(() => crossEntropy(network.apply(features, ctx), batch.labels)),
        dispose: () => network.dispose(),
      };
      return head;
    },
  };
}

/** A CIFAR ResNet with `blocksPerStage` BasicBlocks per stage (widths 16/32/64). */
export function smallResNet(blocksPerStage: number, seed = 0, classes = 10): Backbone {
  return cifarResNet(`resnet-test-${blocksPerStage}`, blocksPerStage, { seed, classes });
}

export const CIFAR_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255] as const;
export const CIFAR_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255] as const;

/** The CIFAR-10 binary folder: $MLAAN_DATA_DIR, else the repository's ../shared/datasets. */
export function cifarFolder(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const roots = [process.env.MLAAN_DATA_DIR, resolve(here, '../../../../shared/datasets')].filter(Boolean) as string[];
  for (const root of roots) {
    for (const folder of [join(root, 'cifar10', 'cifar-10-batches-bin'), join(root, 'cifar-10-batches-bin')]) {
      if (existsSync(join(folder, 'data_batch_1.bin'))) return folder;
    }
  }
  return undefined;
}

/**
 * The first `count` training images of data_batch_1, centre-cropped to `size` (CIFAR is 32x32;
 * smaller crops keep cpu tests fast), normalised NHWC batches of `batchSize`.
 */
export function cifarBatches(count: number, batchSize: number, size = 32): Batch[] {
  const folder = cifarFolder();
  if (!folder) throw new Error('CIFAR-10 binary files not found; set MLAAN_DATA_DIR.');
  const recordBytes = 1 + 3 * 1024;
  const bytes = Buffer.alloc(count * recordBytes);
  const fd = openSync(join(folder, 'data_batch_1.bin'), 'r');
  try {
    readSync(fd, bytes, 0, bytes.length, 0);
  } finally {
    closeSync(fd);
  }
  const offset = Math.floor((32 - size) / 2);
  const batches: Batch[] = [];
  for (let start = 0; start + batchSize <= count; start += batchSize) {
    const pixels = new Float32Array(batchSize * size * size * 3);
    const labels = new Int32Array(batchSize);
    for (let n = 0; n < batchSize; n++) {
      const record = (start + n) * recordBytes;
      labels[n] = bytes[record]!;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          for (let c = 0; c < 3; c++) {
            const value = bytes[record + 1 + c * 1024 + (y + offset) * 32 + (x + offset)]! / 255;
            pixels[((n * size + y) * size + x) * 3 + c] = (value - CIFAR_MEAN[c]!) / CIFAR_STD[c]!;
          }
        }
      }
    }
    batches.push({
      inputs: tf.tensor4d(pixels, [batchSize, size, size, 3]),
      labels: tf.tensor1d(labels, 'int32'),
      normalization: { mean: [...CIFAR_MEAN], std: [...CIFAR_STD] },
    });
  }
  return batches;
}

/** Names of the gradients that are not identically zero. */
export function nonZeroGradients(gradients: ReadonlyMap<string, tf.Tensor>): Set<string> {
  const names = new Set<string>();
  for (const [name, g] of gradients) if (tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!) > 0) names.add(name);
  return names;
}
