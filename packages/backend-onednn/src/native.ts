import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { OnednnUnavailableError } from './errors.js';

/**
 * The native addon's surface (native/*.cc). Every tensor crosses as a Float32Array that oneDNN
 * reads or writes in place; outputs are preallocated by the caller. Geometry travels packed in
 * Int32Arrays (convolutionGeometry and poolingGeometry in src/kernels/, the shape lists of the
 * element-wise and layout kernels) because reading one typed array is far cheaper for
 * N-API than reading a JS array element by element.
 */
export interface OnednnAddon {
  version(): [number, number, number];
  cpuIsa(): string;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  cacheStats(): CacheStats;
  setCacheCapacity(entries: number): void;
  clearCache(): void;
  /** mallopt(M_MMAP_THRESHOLD, maximumBytes) and mallopt(M_TRIM_THRESHOLD, retainedBytes); true when both applied. */
  retainFreedMemory(maximumBytes: number, retainedBytes: number): boolean;

  conv2dForward(
    x: Float32Array,
    filter: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    geometry: Int32Array,
    activation: FusedActivation,
    activationAlpha: number,
  ): void;
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: Int32Array): void;
  conv2dBackwardWeights(
    x: Float32Array,
    dy: Float32Array,
    dFilter: Float32Array,
    dBias: Float32Array | null,
    geometry: Int32Array,
  ): void;
  conv2dImplementations(geometry: Int32Array): { forward: string; backwardData: string; backwardWeights: string };

  matmul(
    a: Float32Array,
    b: Float32Array,
    bias: Float32Array | null,
    out: Float32Array,
    parameters: Int32Array,
    activation: FusedActivation,
    activationAlpha: number,
  ): void;

  poolForward(x: Float32Array, y: Float32Array, geometry: Int32Array, kind: PoolingKind): void;
  poolBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, geometry: Int32Array, kind: PoolingKind): void;

  binary(a: Float32Array, b: Float32Array, out: Float32Array, parameters: Int32Array): void;
  eltwise(x: Float32Array, y: Float32Array, operation: EltwiseOperation, alpha: number, beta: number): void;
  eltwiseBackward(
    dy: Float32Array,
    data: Float32Array,
    dx: Float32Array,
    operation: EltwiseOperation,
    alpha: number,
    beta: number,
  ): void;
  step(x: Float32Array, y: Float32Array, alpha: number): void;
  reduce(x: Float32Array, y: Float32Array, parameters: Int32Array): void;
  /** Sum (or mean) over the middle axis of an [outer, reduced, inner] view. */
  sumAxes(x: Float32Array, y: Float32Array, outer: number, reduced: number, inner: number, mean: boolean): void;
  softmax(x: Float32Array, y: Float32Array, rows: number, columns: number): void;
  scaleShift(x: Float32Array, scale: Float32Array, shift: Float32Array, y: Float32Array, rows: number, channels: number): void;
  addN(inputs: Float32Array[], y: Float32Array): void;
  batchNormTrainingForward(
    x: Float32Array,
    scale: Float32Array,
    shift: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    rows: number,
    channels: number,
    epsilon: number,
    /** With `relu`: summed before the ReLU. */
    residual?: Float32Array | null,
    /** y = max(0, normalised [+ residual]) in the same pass. */
    relu?: boolean,
  ): void;
  batchNormTrainingBackward(
    dy: Float32Array,
    x: Float32Array,
    scale: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    dx: Float32Array,
    dScale: Float32Array,
    dShift: Float32Array,
    rows: number,
    channels: number,
    epsilon: number,
    /** The ReLU's output after this batch norm in the forward: dy is its gradient, masked on the way. */
    output?: Float32Array | null,
    /** With `output`: receives the masked dy (the gradient of a residual summed before the ReLU). */
    dResidual?: Float32Array | null,
  ): void;

  transpose(x: Float32Array, y: Float32Array, parameters: Int32Array): void;
  stridedSlice(x: Float32Array, y: Float32Array, parameters: Int32Array): void;
  pad(x: Float32Array, y: Float32Array, parameters: Int32Array, value: number): void;

  /** Best GFLOP/s of independent `bits`-wide FMA chains on `threads` threads over about `milliseconds`; 0 without that vector width. */
  fmaPeak(bits: 512 | 256, threads: number, milliseconds: number): number;
  /** Best GB/s of a streaming read and a streaming copy (bytes read + written) over `megabytes`-sized buffers. */
  memoryBandwidth(threads: number, megabytes: number, milliseconds: number): { read: number; copy: number };
}

export interface CacheStats {
  /** Cached primitives (each with its descriptors and staging buffers). */
  entries: number;
  capacity: number;
  hits: number;
  misses: number;
  /** Bytes held by cached entries for reordered weights and pooling workspaces. */
  stagingBytes: number;
  /** Bytes of the one scratchpad every primitive shares. */
  scratchpadBytes: number;
}

/** Activation fused into a convolution or matmul (native appendActivation). */
export const FusedActivation = {
  None: 0,
  Relu: 1,
  Relu6: 2,
  Elu: 3,
  LeakyRelu: 4,
  Sigmoid: 5,
} as const;
export type FusedActivation = (typeof FusedActivation)[keyof typeof FusedActivation];

export const PoolingKind = {
  Max: 0,
  /** Divides by the number of in-bounds pixels, as TensorFlow.js's AvgPool does. */
  Average: 1,
} as const;
export type PoolingKind = (typeof PoolingKind)[keyof typeof PoolingKind];

/** Unary operations (native eltwiseAlgorithm). */
export const EltwiseOperation = {
  Relu: 0,
  Tanh: 1,
  Elu: 2,
  Square: 3,
  Abs: 4,
  Sqrt: 5,
  Linear: 6,
  Clip: 7,
  Sigmoid: 8,
  Exp: 9,
  Log: 10,
  Pow: 11,
  SoftRelu: 12,
  ReluFromOutput: 13,
} as const;
export type EltwiseOperation = (typeof EltwiseOperation)[keyof typeof EltwiseOperation];

/** Binary operations (native binaryAlgorithm). */
export const BinaryOperation = {
  Add: 0,
  Sub: 1,
  Mul: 2,
  Div: 3,
  Max: 4,
  Min: 5,
  SquaredDifference: 6,
} as const;
export type BinaryOperation = (typeof BinaryOperation)[keyof typeof BinaryOperation];

export const BinaryPostOperation = {
  None: 0,
  Negate: 1,
  Reciprocal: 2,
} as const;
export type BinaryPostOperation = (typeof BinaryPostOperation)[keyof typeof BinaryPostOperation];

export const ReductionOperation = {
  Sum: 0,
  Mean: 1,
  Max: 2,
  Min: 3,
  Product: 4,
} as const;
export type ReductionOperation = (typeof ReductionOperation)[keyof typeof ReductionOperation];

/** Where node-gyp puts the addon, relative to this package's root. */
const addonRelativePath = path.join('build', 'Release', 'onednn.node');

function packageRoot(): string {
  // Both src/native.ts (tests) and dist/index.js (published) sit one directory below the root.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

let loaded: { addon?: OnednnAddon; error?: OnednnUnavailableError } | undefined;

/** The addon's path inside this package. */
export function addonPath(): string {
  return path.join(packageRoot(), addonRelativePath);
}

/** Loads the addon once; later calls return the same addon or the same error. */
export function loadAddon(): OnednnAddon {
  if (!loaded) loaded = loadAddonFrom(addonPath());
  if (loaded.error) throw loaded.error;
  return loaded.addon!;
}

/** Loads an addon file, turning any failure into OnednnUnavailableError. */
export function loadAddonFrom(file: string): { addon?: OnednnAddon; error?: OnednnUnavailableError } {
  // OpenMP (libgomp, loaded with the addon) reads its settings from the environment once, at
  // load. By default an idle worker spins for ~300k iterations before sleeping; this backend runs
  // one parallel region per op with JavaScript in between, and on a machine with other busy
  // processes those spinning workers take the cores the work needs (measured on a loaded 2-core
  // machine, 2 threads: 25-36 images/s with the default spin, 80-97 with a short spin or
  // OMP_WAIT_POLICY=passive). A short spin still covers the back-to-back regions inside one
  // primitive. An explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT wins (OMP_WAIT_POLICY=active is the
  // fastest on an otherwise idle machine); the variable is removed again after loading so child
  // processes do not inherit it.
  const setSpinCount = process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined;
  if (setSpinCount) process.env.GOMP_SPINCOUNT = '3000';
  try {
    const require = createRequire(import.meta.url);
    return { addon: require(file) as OnednnAddon };
  } catch (cause) {
    return { error: new OnednnUnavailableError(file, cause) };
  } finally {
    if (setSpinCount) delete process.env.GOMP_SPINCOUNT;
  }
}

export function addonLoads(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
