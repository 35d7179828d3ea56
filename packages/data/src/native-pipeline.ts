import { Draws, planResize, type ResizePlan } from './crop-plan.js';
import { checkJpegEnd, checkJpegStart, readImageFile, undecodableJpeg } from './image/jpeg.js';
import { readJpegSize } from './image/jpeg-header.js';
import { type Coefficients, resample, resampleCoefficients, reversed } from './image/resample.js';
import type { SharpModule, SharpPipeline } from './image/sharp.js';
import {
  batchOutput,
  type BatchRequest,
  drawsPerExample,
  normalizationAffine,
  type PreparedInputs,
  skipOrThrow,
  type SkippedImage,
  withoutSkipped,
} from './pipeline.js';

/**
 * The ImageNet transforms on sharp (libvips): the same crop plans as the JavaScript path
 * (`planResize`, from the size in the JPEG header and the same draws), so only decoding and
 * filtering differ. libvips' JPEG shrink-on-load decodes at 1/2, 1/4 or 1/8 scale when the
 * requested size allows it, which skips most of the decoding work of a large image; crops that
 * must be enlarged are decoded natively and resampled by the JavaScript path's resampler.
 */

/** Images of one batch decoding at a time: enough to keep libuv's thread pool busy while this thread converts finished ones. */
const IN_FLIGHT = 4;

/** The decoded RGB bytes of `pipeline`, or the problem naming the file. */
async function rgbBytes(pipeline: SharpPipeline, file: string, width: number, height: number): Promise<Uint8Array> {
  let result;
  try {
    result = await pipeline.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw undecodableJpeg(file, (error as Error).message.split('\n')[0]!);
  }
  const { data, info } = result;
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw undecodableJpeg(file, `sharp produced ${info.width}×${info.height}×${info.channels}, expected ${width}×${height}×3`);
  }
  return data;
}

/** Whether the plan enlarges the image along either axis. */
function enlarges(plan: ResizePlan, size: ImageSize, outHeight: number, outWidth: number): boolean {
  if (plan.kind === 'crop-then-resize') return plan.box.width < outWidth || plan.box.height < outHeight;
  return plan.resizedWidth > size.width || plan.resizedHeight > size.height;
}

/** Pixels beyond the box that the resampling filter of an axis scaled by `scale` (input/output) can reach. */
function filterMargin(scale: number): number {
  return Math.ceil(Math.max(scale, 1)) + 1;
}

interface ImageSize {
  height: number;
  width: number;
}

/**
 * Writes one example's normalised pixels (`pixel * scale + bias`, outHeight×outWidth×3 floats)
 * at `offset` of `out`. Shrinking runs entirely in libvips (linear kernel, antialiased as PIL's
 * bilinear, with JPEG shrink-on-load). Enlarging does not: libvips' upsampling is not PIL's, so
 * sharp only decodes the box (plus the filter's reach) and the JavaScript resampler of the
 * jpeg-js path enlarges it, with the same coefficients.
 */
export async function writeExampleWithSharp(
  sharp: SharpModule,
  file: string,
  bytes: Buffer,
  size: ImageSize,
  plan: ResizePlan,
  outHeight: number,
  outWidth: number,
  out: Float32Array,
  offset: number,
  scale: ArrayLike<number>,
  bias: ArrayLike<number>,
): Promise<void> {
  // failOn 'warning': corrupt entropy data (libjpeg "corrupt JPEG data") is an error, not noise.
  const pipeline = sharp(bytes, { failOn: 'warning' });
  if (!enlarges(plan, size, outHeight, outWidth)) {
    let resized: SharpPipeline;
    if (plan.kind === 'crop-then-resize') {
      const { box } = plan;
      resized = pipeline
        .extract({ left: box.left, top: box.top, width: box.width, height: box.height })
        .resize(outWidth, outHeight, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
      if (plan.flip) resized = resized.flop();
    } else {
      resized = pipeline
        .resize(plan.resizedWidth, plan.resizedHeight, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true })
        .extract({ left: plan.left, top: plan.top, width: outWidth, height: outHeight });
    }
    const pixels = await rgbBytes(resized, file, outWidth, outHeight);
    let target = offset;
    for (let source = 0; source < outHeight * outWidth * 3; source += 3) {
      out[target++] = pixels[source]! * scale[0]! + bias[0]!;
      out[target++] = pixels[source + 1]! * scale[1]! + bias[1]!;
      out[target++] = pixels[source + 2]! * scale[2]! + bias[2]!;
    }
    return;
  }
  let rows: Coefficients;
  let columns: Coefficients;
  let region = { left: 0, top: 0, width: size.width, height: size.height };
  if (plan.kind === 'crop-then-resize') {
    const { box } = plan;
    const marginY = filterMargin(box.height / outHeight);
    const marginX = filterMargin(box.width / outWidth);
    const top = Math.max(box.top - marginY, 0);
    const left = Math.max(box.left - marginX, 0);
    region = {
      top,
      left,
      height: Math.min(box.top + box.height + marginY, size.height) - top,
      width: Math.min(box.left + box.width + marginX, size.width) - left,
    };
    rows = resampleCoefficients(region.height, box.top - top, box.top - top + box.height, outHeight);
    columns = resampleCoefficients(region.width, box.left - left, box.left - left + box.width, outWidth);
    if (plan.flip) columns = reversed(columns);
  } else {
    rows = resampleCoefficients(size.height, 0, size.height, plan.resizedHeight, plan.top, outHeight);
    columns = resampleCoefficients(size.width, 0, size.width, plan.resizedWidth, plan.left, outWidth);
  }
  const pixels = await rgbBytes(pipeline.extract(region), file, region.width, region.height);
  resample(pixels, 0, region.width, rows, columns, out, offset, scale, bias);
}

/** Reads a listed file, checks it is a JPEG and plans its crop from the header. */
function planExample(file: string, request: BatchRequest, position: number): { bytes: Buffer; size: ImageSize; plan: ResizePlan } {
  const { transform } = request;
  if (transform.kind !== 'random-resized-crop' && transform.kind !== 'resize-centre-crop') {
    throw new Error(`The native JPEG path takes 'random-resized-crop' or 'resize-centre-crop', not '${transform.kind}'.`);
  }
  // Read synchronously: a small file from the page cache costs less than the four trips through
  // libuv's thread pool of an asynchronous read, which would also queue behind the decodes there.
  const bytes = readImageFile(file);
  checkJpegStart(file, bytes);
  checkJpegEnd(file, bytes);
  const size = readJpegSize(bytes);
  if (typeof size === 'string') throw undecodableJpeg(file, size);
  const draws = new Draws(request.draws, position * drawsPerExample(transform));
  return { bytes, size, plan: planResize(transform, size.height, size.width, request.height, request.width, draws) };
}

/**
 * The normalised NHWC inputs of one batch of JPEG files, decoded and resampled by sharp.
 * `reused`: a buffer to write them into (batchOutput).
 */
export async function prepareBatchWithSharp(sharp: SharpModule, files: readonly string[], request: BatchRequest, reused?: ArrayBuffer): Promise<PreparedInputs> {
  const { indices, height, width } = request;
  const { scale, bias } = normalizationAffine(request.normalization);
  const exampleSize = height * width * 3;
  const out = batchOutput(indices.length * exampleSize, reused);
  const skipped: SkippedImage[] = [];
  let next = 0;
  const failures = new Map<number, unknown>();
  const lane = async () => {
    while (next < indices.length && failures.size === 0) {
      const position = next++;
      const file = files[indices[position]!]!;
      try {
        const { bytes, size, plan } = planExample(file, request, position);
        await writeExampleWithSharp(sharp, file, bytes, size, plan, height, width, out, position * exampleSize, scale, bias);
      } catch (error) {
        try {
          skipOrThrow(error, position, request, skipped);
        } catch (fatal) {
          failures.set(position, fatal);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, indices.length) }, lane));
  // Examples start in order, so the first failing position is the one a sequential pass would meet.
  if (failures.size > 0) throw failures.get(Math.min(...failures.keys()));
  // Lanes finish out of order; the batch reports its skipped examples in example order.
  skipped.sort((a, b) => a.position - b.position);
  return { inputs: withoutSkipped(out, exampleSize, skipped), skipped };
}
