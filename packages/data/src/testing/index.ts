/** `@mlaan/data/testing`: deterministic ImageNet-like JPEG folders for tests and benchmarks. */
export { imageNetLikeJpeg, imageNetLikePixels, writeImageNetLikeFolder, type ImageNetLikeOptions } from './imagenet-like.js';
