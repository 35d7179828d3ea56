import { ConfigError, defineOptions, option } from '@mlaan/core';
import type { ProgressOption } from './progress.js';
import { datasetNames, type Transform } from './specs.js';

/*
 * The options of loadDataset, downloadDataset and createLoader as core's option rules (the
 * plugins' mechanism): an unknown key (`dataDri`) or a bad value is a ConfigError naming the call,
 * the option and what it takes, before any file is touched. Deeper checks that need the dataset
 * (a transform against its image size, a decoder that must load) stay where they are made.
 */

/** A value as a message shows it; never throws (an object without a prototype has no toString). */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return 'an array';
  try {
    return JSON.stringify(value) ?? 'an object';
  } catch {
    return 'an object';
  }
}

const nonEmptyString = (what: string) =>
  option.custom<string>((value) => (typeof value === 'string' && value.length > 0 ? undefined : `must be ${what} (a non-empty string); got ${shown(value)}`));

const progress = option.custom<ProgressOption>((value) =>
  typeof value === 'boolean' || typeof value === 'function' ? undefined : `must be true, false or a function receiving progress events; got ${shown(value)}`,
);

const sourceKeys = ['url', 'md5'];
const source = option.custom<{ url: string; md5?: string }>((value) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `must be { url, md5? }; got ${shown(value)}`;
  const unknown = Object.keys(value).filter((key) => !sourceKeys.includes(key));
  if (unknown.length > 0) return `takes url and md5 only; got ${unknown.map((key) => `'${key}'`).join(', ')}`;
  const { url, md5 } = value as { url?: unknown; md5?: unknown };
  if (typeof url !== 'string' || url.length === 0) return `needs url, the address to download from; got ${shown(url)}`;
  if (md5 !== undefined && (typeof md5 !== 'string' || !/^[0-9a-f]{32}$/i.test(md5))) return `md5 must be 32 hexadecimal digits; got ${shown(md5)}`;
  return undefined;
});

const transformKinds = ['none', 'pad-crop-flip', 'random-resized-crop', 'resize-centre-crop'];
const augment = option.custom<boolean | Transform>((value) => {
  if (typeof value === 'boolean') return undefined;
  const kind = value !== null && typeof value === 'object' ? (value as { kind?: unknown }).kind : undefined;
  if (typeof kind === 'string' && transformKinds.includes(kind)) return undefined;
  return `must be true (the dataset's training augmentation), false (its evaluation transform) or a transform with kind ${transformKinds.map((name) => `'${name}'`).join(', ')}; got ${shown(value)}`;
});

const name = option.oneOf(datasetNames);
const split = option.oneOf(['train', 'test'] as const, 'train');
const dataDir = option.optional(nonEmptyString('a folder'));

export const loadDatasetOptions = defineOptions({
  call: 'loadDataset()',
  error: ConfigError,
  rules: {
    name,
    split,
    dataDir,
    download: option.boolean(false),
    limit: option.optional(option.integer({ min: 1, meaning: 'examples to keep' })),
    verify: option.boolean(false),
    progress: option.optional(progress),
    source: option.optional(source),
  },
});

export const downloadDatasetOptions = defineOptions({
  call: 'downloadDataset()',
  error: ConfigError,
  rules: { name, split, dataDir, progress: option.optional(progress), source: option.optional(source) },
});

export const loaderOptions = defineOptions({
  call: 'createLoader()',
  error: ConfigError,
  rules: {
    batchSize: option.integer({ min: 1 }),
    shuffle: option.optional(option.boolean()),
    augment: option.optional(augment),
    seed: option.integer({}, 0),
    dropLast: option.boolean(false),
    workers: option.optional(option.integer({ min: 0, meaning: 'worker threads; 0 prepares batches on this thread' })),
    prefetch: option.optional(option.integer({ min: 1, meaning: 'batches prepared ahead' })),
    decoder: option.oneOf(['auto', 'sharp', 'jpeg-js'] as const, 'auto'),
    badImages: option.oneOf(['fail', 'skip'] as const, 'fail'),
    reuseInputBuffers: option.boolean(false),
  },
});
