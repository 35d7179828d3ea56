import type { DatasetName, Normalization, Split } from './specs.js';

interface DatasetBase {
  name: DatasetName;
  split: Split;
  /** Number of examples. */
  count: number;
  /** Size of the images the loader produces (for in-memory datasets, also the stored size). */
  height: number;
  width: number;
  /** Class names; `labels` index into this list. */
  classes: readonly string[];
  /** One class index per example. */
  labels: Int32Array;
  normalization: Normalization;
  /** The folder the dataset was read from. */
  folder: string;
}

/** A dataset held in memory: `count` images of `height`×`width`×3 bytes each, HWC, RGB. */
export interface ArrayDataset extends DatasetBase {
  kind: 'array';
  /** Backed by a SharedArrayBuffer so worker threads read it without a copy. */
  images: Uint8Array;
}

/** A dataset of image files (ImageNet), decoded when a batch needs them. */
export interface ImageFolderDataset extends DatasetBase {
  kind: 'files';
  files: readonly string[];
}

export type Dataset = ArrayDataset | ImageFolderDataset;

/** What a reader of an in-memory format returns. */
export interface ImageArrays {
  images: Uint8Array;
  labels: Int32Array;
  height: number;
  width: number;
}

/** A byte array that worker threads can share. */
export function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length));
}
