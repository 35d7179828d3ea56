export { loadDataset, type LoadDatasetOptions } from './dataset.js';
export { createLoader, type Loader, type LoaderOptions, type PreparedBatch } from './loader.js';
export type { ArrayDataset, Dataset, ImageFolderDataset } from './types.js';
export {
  datasetSpecs,
  datasetNames,
  transformOutputSize,
  type DatasetFile,
  type DatasetName,
  type DatasetSpec,
  type DownloadSource,
  type NoTransform,
  type Normalization,
  type PadCropFlip,
  type RandomResizedCrop,
  type ResizeCentreCrop,
  type Split,
  type Transform,
} from './specs.js';
export { DataError, DatasetNotFoundError, DatasetFormatError, ChecksumError, DownloadError, type DataErrorDetails } from './errors.js';
export { downloadDataset, downloadFile, type DownloadDatasetOptions, type DownloadFileOptions } from './download.js';
export { createProgressBar, type ProgressCallback, type ProgressEvent, type ProgressOption } from './progress.js';
export { resolveDataDirectory, defaultCacheDirectory, DATA_DIR_ENVIRONMENT_VARIABLE } from './paths.js';
export { md5File, readMd5Sums, verifyFiles } from './checksum.js';
export { readMatFile, type MatArray, type MatClassName } from './formats/matlab.js';
export { extractArchive, extractTar, type ExtractedFile } from './formats/tar.js';
export { readCifar10, CIFAR10_RECORDS_PER_FILE } from './readers/cifar10.js';
export { readSvhn } from './readers/svhn.js';
export { readStl10 } from './readers/stl10.js';
export { listImageFolder, type ImageFolderListing } from './readers/imagenet.js';
export { decodeJpegFile, type RgbImage } from './image/jpeg.js';
export { readJpegSize } from './image/jpeg-header.js';
export type { JpegDecoderName } from './image/sharp.js';
export { balancedSubset } from './subset.js';
export { prepareInputs, drawsPerExample, type BadImagePolicy, type BatchRequest } from './pipeline.js';
export { planResize, type CropBox, type ResizePlan } from './crop-plan.js';
export { epochOrder } from './loader.js';
