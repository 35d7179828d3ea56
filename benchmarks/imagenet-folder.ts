/**
 * Writes an ImageNet-like data folder (`<out>/imagenet/{train,val}/<class>/*.JPEG`, generated
 * deterministically by @mlaan/data/testing) so that the whole ImageNet path of the bench —
 * JPEG loader, ResNet-34/101 at 224, the paper-imagenet grid — can be run at full size without
 * ImageNet, e.g. as a check on a GPU machine before the real run:
 *
 *   npx turbo run build --filter=@mlaan/bench...
 *   npx tsx benchmarks/imagenet-folder.ts --out /tmp/imagenet-like [--classes 10] [--per-class 26]
 *   node apps/bench/dist/cli.js ablation --preset paper-imagenet --data-dir /tmp/imagenet-like \
 *     --epochs 2 --batch-size 32 --eval-batch-size 32 --out /tmp/imagenet-check [--backend tensorflow-gpu]
 *
 * Each configuration then records its training losses (results.json `lossCurve`: finite, and on
 * images without class signal falling only as the net memorises them) and a test error near 90%
 * (10 classes, chance).
 */
import { resolve } from 'node:path';
import { writeImageNetLikeFolder } from '@mlaan/data/testing';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

const out = resolve(option('out', 'imagenet-like'));
const classes = Number(option('classes', '10'));
const perClass = Number(option('per-class', '26'));
const started = performance.now();
await writeImageNetLikeFolder({ root: out, classes, perClass, split: 'train', seed: 0, encoder: 'sharp' });
await writeImageNetLikeFolder({ root: out, classes, perClass: Math.max(1, Math.round(perClass / 5)), split: 'val', seed: 1, encoder: 'sharp' });
console.log(`wrote ${out}/imagenet/{train,val}: ${classes} classes, ${perClass} training images each, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(`next: node apps/bench/dist/cli.js ablation --preset paper-imagenet --data-dir ${out} --epochs 2 --batch-size 32 --eval-batch-size 32`);
