/**
 * Everything that differs between datasets, as plain objects: where the files live, where they come
 * from, their checksums, the augmentation of METHOD §6 and the normalisation constants. The readers,
 * the downloader and the loader read these tables; nothing is registered by import side effects.
 */

export type DatasetName = 'cifar10' | 'svhn' | 'stl10' | 'imagenet';
export type Split = 'train' | 'test';

/** Per-channel normalisation in [0, 1] pixel units: `input = (pixel / 255 - mean) / std`. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Training augmentation: pad, take a random crop of the original size, maybe flip horizontally. */
export interface PadCropFlip {
  kind: 'pad-crop-flip';
  padding: number;
  /** `reflect` mirrors without repeating the edge pixel (PyTorch `F.pad(mode='reflect')`); `zero` pads pixel value 0. */
  padMode: 'reflect' | 'zero';
  flip: boolean;
}

/** torchvision `RandomResizedCrop(size, scale, ratio)` (bilinear, antialiased) then an optional flip. */
export interface RandomResizedCrop {
  kind: 'random-resized-crop';
  size: number;
  scale: readonly [number, number];
  ratio: readonly [number, number];
  flip: boolean;
}

/** Evaluation transform: resize the shorter side to `resize`, then take the centre `size`×`size`. */
export interface ResizeCentreCrop {
  kind: 'resize-centre-crop';
  resize: number;
  size: number;
}

/** The stored image as is (only normalised). */
export interface NoTransform {
  kind: 'none';
}

export type Transform = PadCropFlip | RandomResizedCrop | ResizeCentreCrop | NoTransform;

/** One file a dataset is made of, its published md5 when one is known. */
export interface DatasetFile {
  path: string;
  md5?: string;
}

/** Where a missing dataset is downloaded from. */
export interface DownloadSource {
  url: string;
  md5: string;
  /** `tar.gz`: an archive holding the dataset folder; `file`: the data file itself. */
  format: 'tar.gz' | 'file';
}

export interface DatasetSpec {
  name: DatasetName;
  classes: readonly string[];
  /** Folders under the data directory where the dataset may sit, the first one is where downloads go. */
  folders: readonly string[];
  /** The files each split reads, relative to the dataset folder. */
  files: Readonly<Record<Split, readonly DatasetFile[]>>;
  /**
   * The images in each split of a complete copy, as published (the readers count what is on disk;
   * this is for planning, e.g. a cluster job's time limit before any data is read).
   */
  images: Readonly<Record<Split, number>>;
  /** What to download for each split (absent: the dataset cannot be downloaded, e.g. ImageNet). */
  sources?: Readonly<Record<Split, DownloadSource>>;
  normalization: Normalization;
  /** Augmentation for training and the transform for evaluation. */
  train: Transform;
  eval: Transform;
}

const CIFAR10_ARCHIVE: DownloadSource = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
  format: 'tar.gz',
};

const STL10_ARCHIVE: DownloadSource = {
  url: 'http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz',
  md5: '91f7769df0f17e558f3565bffb0c7dfb',
  format: 'tar.gz',
};

const HALF: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

export const datasetSpecs: Readonly<Record<DatasetName, DatasetSpec>> = {
  cifar10: {
    name: 'cifar10',
    classes: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
    folders: ['cifar10/cifar-10-batches-bin', 'cifar-10-batches-bin'],
    // md5s of the files inside the official archive (whose own md5 is the published one).
    files: {
      train: [
        { path: 'data_batch_1.bin', md5: '5dd7e06a14cb22eb9f671a540d1b7c25' },
        { path: 'data_batch_2.bin', md5: '5ea93a67294ea407fff1d09f752e9692' },
        { path: 'data_batch_3.bin', md5: '942cd6a4bcdd0dd3c604fbe906cb4421' },
        { path: 'data_batch_4.bin', md5: 'ae636b3ba5c66a11e91e8cb52e771fcb' },
        { path: 'data_batch_5.bin', md5: '53f37980c15c3d472c316c40844f3f0d' },
      ],
      test: [{ path: 'test_batch.bin', md5: '803d5f7f4d78ea53de84dbe85f74fb6d' }],
    },
    images: { train: 50_000, test: 10_000 },
    sources: { train: CIFAR10_ARCHIVE, test: CIFAR10_ARCHIVE },
    normalization: {
      mean: [125.3 / 255, 123.0 / 255, 113.9 / 255],
      std: [63.0 / 255, 62.1 / 255, 66.7 / 255],
    },
    train: { kind: 'pad-crop-flip', padding: 4, padMode: 'reflect', flip: true },
    eval: { kind: 'none' },
  },
  svhn: {
    name: 'svhn',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    folders: ['svhn', '.'],
    files: {
      train: [{ path: 'train_32x32.mat', md5: 'e26dedcc434d2e4c54c9b2d4a06d8373' }],
      test: [{ path: 'test_32x32.mat', md5: 'eb5a983be6a315427106f1b164d9cef3' }],
    },
    images: { train: 73_257, test: 26_032 },
    sources: {
      train: { url: 'http://ufldl.stanford.edu/housenumbers/train_32x32.mat', md5: 'e26dedcc434d2e4c54c9b2d4a06d8373', format: 'file' },
      test: { url: 'http://ufldl.stanford.edu/housenumbers/test_32x32.mat', md5: 'eb5a983be6a315427106f1b164d9cef3', format: 'file' },
    },
    normalization: HALF,
    train: { kind: 'pad-crop-flip', padding: 2, padMode: 'zero', flip: false },
    eval: { kind: 'none' },
  },
  stl10: {
    name: 'stl10',
    classes: ['airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey', 'ship', 'truck'],
    folders: ['stl10/stl10_binary', 'stl10_binary'],
    files: {
      train: [
        { path: 'train_X.bin', md5: '918c2871b30a85fa023e0c44e0bee87f' },
        { path: 'train_y.bin', md5: '5a34089d4802c674881badbb80307741' },
      ],
      test: [
        { path: 'test_X.bin', md5: '7f263ba9f9e0b06b93213547f721ac82' },
        { path: 'test_y.bin', md5: '36f9794fa4beb8a2c72628de14fa638e' },
      ],
    },
    images: { train: 5_000, test: 8_000 },
    sources: { train: STL10_ARCHIVE, test: STL10_ARCHIVE },
    normalization: HALF,
    train: { kind: 'pad-crop-flip', padding: 4, padMode: 'zero', flip: true },
    eval: { kind: 'none' },
  },
  imagenet: {
    name: 'imagenet',
    // The class list is the sorted list of class folders found on disk.
    classes: [],
    folders: ['imagenet'],
    files: { train: [{ path: 'train' }], test: [{ path: 'val' }] },
    // ILSVRC-2012: the training set and the 50 validation images per class.
    images: { train: 1_281_167, test: 50_000 },
    normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    train: { kind: 'random-resized-crop', size: 224, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: true },
    eval: { kind: 'resize-centre-crop', resize: 256, size: 224 },
  },
};

export const datasetNames = Object.keys(datasetSpecs) as DatasetName[];

/** Side length of the images a transform produces from a `height`×`width` stored image. */
export function transformOutputSize(transform: Transform, height: number, width: number): [number, number] {
  switch (transform.kind) {
    case 'pad-crop-flip':
    case 'none':
      return [height, width];
    case 'random-resized-crop':
    case 'resize-centre-crop':
      return [transform.size, transform.size];
  }
}
