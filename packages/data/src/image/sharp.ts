import { createRequire } from 'node:module';

/**
 * sharp (libvips), loaded only if it is installed: an optional dependency, whose prebuilt binaries
 * come in per-platform npm packages. Typed here by the few calls the pipeline makes, so that
 * @mlaan/data's types never need sharp's.
 */
export interface SharpPipeline {
  extract(region: { left: number; top: number; width: number; height: number }): SharpPipeline;
  resize(width: number, height: number, options: { fit: 'fill'; kernel: 'linear'; fastShrinkOnLoad: boolean }): SharpPipeline;
  flop(): SharpPipeline;
  toColourspace(space: 'srgb'): SharpPipeline;
  raw(): SharpPipeline;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}

export interface SharpModule {
  (input: Buffer, options: { failOn: 'warning' | 'error' | 'truncated' | 'none'; sequentialRead?: boolean }): SharpPipeline;
  concurrency(threads?: number): number;
  cache(enabled: boolean): unknown;
  versions: { vips: string; sharp?: string };
}

/** The JPEG decoders the loader can use for image-folder datasets. */
export type JpegDecoderName = 'sharp' | 'jpeg-js';

const loaded = new Map<string, { sharp: SharpModule } | { problem: string }>();

/**
 * sharp, or why it cannot load (not installed, no binary for this platform). `moduleName` exists
 * for tests, which load a module that is not there.
 */
export function loadSharp(moduleName = 'sharp'): { sharp: SharpModule } | { problem: string } {
  let result = loaded.get(moduleName);
  if (!result) {
    try {
      const sharp = createRequire(import.meta.url)(moduleName) as SharpModule;
      // One libvips thread per image and no operation cache: the loader runs images in parallel
      // itself and never decodes the same file twice in a row.
      sharp.concurrency(1);
      sharp.cache(false);
      result = { sharp };
    } catch (error) {
      result = { problem: (error as Error).message.split('\n')[0]! };
    }
    loaded.set(moduleName, result);
  }
  return result;
}

let warned = false;

/** Warns once per process that JPEGs decode in JavaScript, and how to get the native decoder. */
function warnFallback(problem: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `@mlaan/data: the native JPEG decoder (sharp) cannot load (${problem}), so ImageNet JPEGs decode with jpeg-js, several times slower. ` +
      'Install it with `npm install sharp` (prebuilt for Linux, macOS and Windows), or pass decoder: \'jpeg-js\' to createLoader to silence this.',
    { code: 'MLAAN_JPEG_FALLBACK' },
  );
}

/**
 * The decoder to use: `sharp` when asked for or (`auto`) when it loads, else jpeg-js with one
 * warning. Asking for `sharp` when it cannot load returns its problem for the caller to throw.
 */
export function chooseJpegDecoder(requested: 'auto' | JpegDecoderName, moduleName = 'sharp'): { decoder: JpegDecoderName } | { problem: string } {
  if (requested === 'jpeg-js') return { decoder: 'jpeg-js' };
  const result = loadSharp(moduleName);
  if ('sharp' in result) return { decoder: 'sharp' };
  if (requested === 'sharp') return result;
  warnFallback(result.problem);
  return { decoder: 'jpeg-js' };
}
