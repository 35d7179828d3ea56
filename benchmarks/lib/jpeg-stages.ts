/**
 * Where the CPU of one training example goes in @mlaan/data's native JPEG path, stage by stage:
 * each stage timed alone, one image at a time on one thread (sharp runs one libvips thread per
 * image), as CPU milliseconds per image over all of the process's threads. Part of
 * benchmarks/jpeg-pipeline.ts; imports the loader's own functions from the sources.
 */
import { readFileSync } from 'node:fs';
import { datasetSpecs, drawsPerExample, type RandomResizedCrop, readJpegSize } from '@mlaan/data';
import { Draws, planResize, type ResizePlan } from '../../packages/data/src/crop-plan.js';
import { decodeJpegFile } from '../../packages/data/src/image/jpeg.js';
import { resample, resampleCoefficients, reversed } from '../../packages/data/src/image/resample.js';
import { loadSharp, type SharpModule } from '../../packages/data/src/image/sharp.js';
import { writeExampleWithSharp } from '../../packages/data/src/native-pipeline.js';
import { normalizationAffine } from '../../packages/data/src/pipeline.js';

const SIZE = 224;
const EXAMPLE = SIZE * SIZE * 3;
const BATCH = 128;

interface Example {
  file: string;
  bytes: Buffer;
  height: number;
  width: number;
  plan: Extract<ResizePlan, { kind: 'crop-then-resize' }>;
}

export interface Stage {
  stage: string;
  cpuMsPerImage: number;
  images: number;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const enlarges = ({ plan }: Example) => plan.box.width < SIZE || plan.box.height < SIZE;

/** Seeded training crops (random resized crop 224 + flip) of `count` files. */
function examples(files: readonly string[], count: number): Example[] {
  const transform = datasetSpecs.imagenet.train as RandomResizedCrop;
  let state = 12345;
  const uniform = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: count }, (_, i) => {
    const file = files[(i * 7919) % files.length]!;
    const bytes = readFileSync(file);
    const size = readJpegSize(bytes);
    if (typeof size === 'string') throw new Error(`${file}: ${size}`);
    const draws = new Draws(Float64Array.from({ length: drawsPerExample(transform) }, uniform));
    const plan = planResize(transform, size.height, size.width, SIZE, SIZE, draws) as Example['plan'];
    return { file, bytes, height: size.height, width: size.width, plan };
  });
}

/** The region libvips decodes for an enlarging crop: the box and the filter's reach, as native-pipeline.ts. */
function enlargedRegion({ plan, height, width }: Example) {
  const { box } = plan;
  const margin = 2;
  const top = Math.max(box.top - margin, 0);
  const left = Math.max(box.left - margin, 0);
  return { top, left, height: Math.min(box.top + box.height + margin, height) - top, width: Math.min(box.left + box.width + margin, width) - left };
}

/**
 * CPU ms per image of each stage over `count` files (after a warm-up pass of the same). The
 * stages of one example add up to about the whole example's cost (the last sharp row).
 */
export async function jpegStages(files: readonly string[], count = 96): Promise<{ versions: Record<string, string | undefined>; enlargingShare: number; stages: Stage[] }> {
  const loaded = loadSharp();
  if (!('sharp' in loaded)) throw new Error(`sharp cannot load: ${loaded.problem}`);
  const sharp: SharpModule = loaded.sharp;
  const { scale, bias } = normalizationAffine(datasetSpecs.imagenet.normalization);
  const all = examples(files, count);
  const shrinking = all.filter((example) => !enlarges(example));
  const enlarging = all.filter(enlarges);
  const stages: Stage[] = [];
  const time = async (stage: string, items: readonly Example[], run: (example: Example, index: number) => unknown) => {
    // A whole pass first: JavaScript stages run optimised code only after a few dozen calls.
    for (const [index, example] of items.entries()) await run(example, index);
    const started = cpuMs();
    for (const [index, example] of items.entries()) await run(example, index);
    stages.push({ stage, cpuMsPerImage: +((cpuMs() - started) / items.length).toFixed(3), images: items.length });
  };
  // Written once before timing, as a reused batch array would have been.
  const reusedBatch = new Float32Array(BATCH * EXAMPLE).fill(1);
  let freshBatch = new Float32Array(0);
  const pixels = new Uint8Array(EXAMPLE).map((_, i) => (i * 37) & 255);
  const toFloats = (out: Float32Array, offset: number) => {
    let target = offset;
    for (let source = 0; source < EXAMPLE; source += 3) {
      out[target++] = pixels[source]! * scale[0]! + bias[0]!;
      out[target++] = pixels[source + 1]! * scale[1]! + bias[1]!;
      out[target++] = pixels[source + 2]! * scale[2]! + bias[2]!;
    }
  };
  const regions = new Map<Example, Uint8Array>();
  for (const example of enlarging) {
    const region = enlargedRegion(example);
    regions.set(example, await sharp(example.bytes, { failOn: 'warning' }).extract(region).raw().toBuffer({ resolveWithObject: true }).then((result) => result.data));
  }

  await time('read the file (readFileSync)', all, (example) => readFileSync(example.file));
  await time('libvips: decode the whole image', all, (example) => sharp(example.bytes, { failOn: 'warning' }).raw().toBuffer({ resolveWithObject: true }));
  await time('libvips: shrinking crop (decode, crop, linear resize, flip) to bytes', shrinking, ({ bytes, plan }) => {
    const resized = sharp(bytes, { failOn: 'warning' }).extract(plan.box).resize(SIZE, SIZE, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
    return (plan.flip ? resized.flop() : resized).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  });
  await time('libvips: enlarging crop, decode its region to bytes', enlarging, (example) =>
    sharp(example.bytes, { failOn: 'warning' }).extract(enlargedRegion(example)).raw().toBuffer({ resolveWithObject: true }),
  );
  await time('JavaScript: PIL-style resampler, enlarging crop to floats', enlarging, (example) => {
    const region = enlargedRegion(example);
    const { box } = example.plan;
    const rows = resampleCoefficients(region.height, box.top - region.top, box.top - region.top + box.height, SIZE);
    let columns = resampleCoefficients(region.width, box.left - region.left, box.left - region.left + box.width, SIZE);
    if (example.plan.flip) columns = reversed(columns);
    resample(regions.get(example)!, 0, region.width, rows, columns, reusedBatch, 0, scale, bias);
  });
  await time('JavaScript: bytes to normalised floats, into a reused batch array', all, (_, index) => toFloats(reusedBatch, (index % BATCH) * EXAMPLE));
  await time('JavaScript: the same into a new 77 MB batch array every 128 images', all, (_, index) => {
    if (index % BATCH === 0) freshBatch = new Float32Array(BATCH * EXAMPLE);
    toFloats(freshBatch, (index % BATCH) * EXAMPLE);
  });
  await time('whole example as the loader makes it (sharp), into a reused batch array', all, (example, index) =>
    writeExampleWithSharp(sharp, example.file, example.bytes, example, example.plan, SIZE, SIZE, reusedBatch, (index % BATCH) * EXAMPLE, scale, bias),
  );
  await time('whole example with jpeg-js (decode, PIL-style resampling)', all.slice(0, 24), (example) => {
    const image = decodeJpegFile(example.file);
    const { box } = example.plan;
    const rows = resampleCoefficients(image.height, box.top, box.top + box.height, SIZE);
    const columns = resampleCoefficients(image.width, box.left, box.left + box.width, SIZE);
    resample(image.data, 0, image.width, rows, columns, reusedBatch, 0, scale, bias);
  });
  return { versions: { sharp: sharp.versions.sharp, vips: sharp.versions.vips }, enlargingShare: +(enlarging.length / all.length).toFixed(3), stages };
}
