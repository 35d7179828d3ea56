import {
  AvgPool,
  type AvgPoolAttrs,
  backend_util,
  ClipByValue,
  FusedConv2D,
  Relu,
  FusedDepthwiseConv2D,
  _FusedMatMul,
  type KernelConfig,
  type KernelFunc,
  MaxPool,
  type MaxPoolAttrs,
  Maximum,
  Minimum,
  type NamedAttrMap,
  Relu6,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { KernelError } from '../errors.js';
import { kernelWithFallback } from './kernel-fallback.js';

/*
 * PyTorch propagates NaN: an output that depends on a NaN input is NaN. Some kernels of
 * TensorFlow.js's own backends return a finite number there (the cpu backend's max pooling skips
 * NaN; XNNPACK, under the wasm backend, clamps with min/max instructions that drop it in ReLU6,
 * clip, maximum, minimum, both poolings and the ReLU/ReLU6 of fused kernels, and its ReLU drops a
 * NaN whose sign bit is set, as the hardware makes them). A NaN that a kernel
 * turns finite can no longer reach the loss, so a non-finite check on the loss misses it while the
 * weights go NaN. Each kernel below runs the kernel it replaced, then, only when an input holds a
 * NaN, writes NaN into the outputs that depend on it. The cost on finite inputs is one read of the
 * inputs; these kernels are off the CIFAR ResNet step's path on both backends.
 */

/** A tensor's float32 values in the backend's own memory (no copy), or undefined when not reachable synchronously. */
function hostValues(backend: unknown, info: TensorInfo): Float32Array | undefined {
  if (info.dtype !== 'float32') return undefined;
  const wasm = backend as unknown as { typedArrayFromHeap?: (tensor: TensorInfo) => unknown };
  if (typeof wasm.typedArrayFromHeap === 'function') {
    const values = wasm.typedArrayFromHeap(info);
    return values instanceof Float32Array ? values : undefined;
  }
  const cpu = backend as unknown as { data?: { get(dataId: object): { values?: unknown } | undefined } };
  const values = cpu.data?.get(info.dataId)?.values;
  return values instanceof Float32Array ? values : undefined;
}

function anyNaN(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== values[i]) return true;
  return false;
}

/** Flat index into a tensor of `shape` broadcast to `outShape`, for every flat index of the output. */
function broadcastIndices(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const size = outShape.reduce((a, b) => a * b, 1);
  const rank = outShape.length;
  const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const strides = new Array<number>(rank).fill(0);
  for (let axis = rank - 1, stride = 1; axis >= 0; axis--) {
    strides[axis] = padded[axis] === 1 ? 0 : stride;
    stride *= padded[axis]!;
  }
  const indices = new Int32Array(size);
  const index = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let i = 0; i < size; i++) {
    indices[i] = offset;
    for (let axis = rank - 1; axis >= 0; axis--) {
      offset += strides[axis]!;
      if (++index[axis]! < outShape[axis]!) break;
      offset -= strides[axis]! * outShape[axis]!;
      index[axis] = 0;
    }
  }
  return indices;
}

/** Writes NaN into every output element that reads a NaN input element (broadcasting inputs). */
function propagateElementwise(inputs: readonly TensorInfo[], output: TensorInfo, backend: unknown): void {
  const out = hostValues(backend, output);
  if (out === undefined) return;
  for (const input of inputs) {
    const values = hostValues(backend, input);
    if (values === undefined || !anyNaN(values)) continue;
    if (values.length === out.length) {
      for (let i = 0; i < out.length; i++) if (values[i] !== values[i]) out[i] = values[i]!;
      continue;
    }
    const indices = broadcastIndices(input.shape, output.shape);
    for (let i = 0; i < out.length; i++) {
      const value = values[indices[i]!]!;
      if (value !== value) out[i] = value;
    }
  }
}

/** Writes NaN into every pooling output whose window (NHWC, padding holding no values) reads a NaN. */
function propagateWindows(x: TensorInfo, output: TensorInfo, attrs: NamedAttrMap, backend: unknown): void {
  const values = hostValues(backend, x);
  const out = hostValues(backend, output);
  if (values === undefined || out === undefined || !anyNaN(values)) return;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as AvgPoolAttrs & MaxPoolAttrs;
  const info = backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const outOffset = ((n * outHeight + oh) * outWidth + ow) * channels;
        for (let fh = 0; fh < info.filterHeight; fh++) {
          const ih = oh * info.strideHeight - info.padInfo.top + fh * info.dilationHeight;
          if (ih < 0 || ih >= inHeight) continue;
          for (let fw = 0; fw < info.filterWidth; fw++) {
            const iw = ow * info.strideWidth - info.padInfo.left + fw * info.dilationWidth;
            if (iw < 0 || iw >= inWidth) continue;
            const inOffset = ((n * inHeight + ih) * inWidth + iw) * channels;
            for (let c = 0; c < channels; c++) {
              const value = values[inOffset + c]!;
              if (value !== value) out[outOffset + c] = value;
            }
          }
        }
      }
    }
  }
}

const clampingActivations: Record<string, readonly [number, number]> = { relu: [0, Infinity], relu6: [0, 6] };

/** A guard: the replaced kernel's result with the NaNs it dropped written back. */
type Guard = (args: Parameters<KernelFunc>[0], replaced: KernelConfig) => TensorInfo | TensorInfo[];

const single = (result: TensorInfo | TensorInfo[]): TensorInfo => (Array.isArray(result) ? result[0]! : result);

const elementwiseGuard =
  (inputNames: readonly string[]): Guard =>
  (args, replaced) => {
    const result = replaced.kernelFunc(args);
    const inputs = inputNames.map((name) => args.inputs[name]).filter((input): input is TensorInfo => input !== undefined);
    propagateElementwise(inputs, single(result), args.backend);
    return result;
  };

const windowGuard: Guard = (args, replaced) => {
  const result = replaced.kernelFunc(args);
  propagateWindows(args.inputs.x as TensorInfo, single(result), args.attrs ?? {}, args.backend);
  return result;
};

/**
 * A fused kernel's ReLU or ReLU6 drops NaN where the sum before it is NaN, which the output no
 * longer shows: when an input holds a NaN the kernel runs without its activation and the
 * NaN-keeping clamp follows.
 */
const fusedActivationGuard =
  (inputNames: readonly string[]): Guard =>
  (args, replaced) => {
    const clamp = clampingActivations[String(args.attrs?.activation)];
    const inputs = inputNames.map((name) => args.inputs[name]).filter((input): input is TensorInfo => input !== undefined);
    const holdsNaN = clamp !== undefined && inputs.some((input) => {
      const values = hostValues(args.backend, input);
      return values !== undefined && anyNaN(values);
    });
    if (!holdsNaN) return replaced.kernelFunc(args);
    const result = replaced.kernelFunc({ ...args, attrs: { ...args.attrs, activation: 'linear' } });
    const out = hostValues(args.backend, single(result));
    if (out !== undefined) {
      const [low, high] = clamp!;
      for (let i = 0; i < out.length; i++) {
        const value = out[i]!;
        if (value === value) out[i] = Math.min(Math.max(value, low), high);
      }
    }
    return result;
  };

const guards: Record<string, Guard> = {
  [MaxPool]: windowGuard,
  [AvgPool]: windowGuard,
  [Relu]: elementwiseGuard(['x']),
  [Relu6]: elementwiseGuard(['x']),
  [ClipByValue]: elementwiseGuard(['x']),
  [Maximum]: elementwiseGuard(['a', 'b']),
  [Minimum]: elementwiseGuard(['a', 'b']),
  [FusedConv2D]: fusedActivationGuard(['x', 'filter', 'bias']),
  [FusedDepthwiseConv2D]: fusedActivationGuard(['x', 'filter', 'bias']),
  [_FusedMatMul]: fusedActivationGuard(['a', 'b', 'bias']),
};

/** The kernels of each of TensorFlow.js's CPU-side backends that drop NaN (tested per backend in nan-propagation.test.ts). */
export const nanDroppingKernels: Readonly<Record<'cpu' | 'wasm', readonly string[]>> = {
  cpu: [MaxPool],
  wasm: [MaxPool, AvgPool, Relu, Relu6, ClipByValue, Maximum, Minimum, FusedConv2D, FusedDepthwiseConv2D, _FusedMatMul],
};

/**
 * Kernels that replace `kernelNames` on `backendName` and keep NaN where the replaced kernel drops
 * it; `replaced(name)` gives the kernel each one replaced (registerTrainingKernels keeps them).
 */
export function createNaNPropagatingKernels(
  backendName: string,
  kernelNames: readonly string[],
  replaced: (kernelName: string) => KernelConfig | undefined,
): KernelConfig[] {
  return kernelNames.map((kernelName) => {
    const guard = guards[kernelName];
    if (guard === undefined) throw new KernelError(`No NaN-keeping version is written for kernel '${kernelName}'; use one of ${Object.keys(guards).join(', ')}.`);
    return kernelWithFallback({
      kernelName,
      backendName,
      fallback: () => replaced(kernelName),
      missingFallback: `import the backend package first: the NaN-keeping ${kernelName} runs the backend's own kernel`,
      run: (args) => {
        const kernel = replaced(kernelName);
        return kernel === undefined ? null : guard(args, kernel);
      },
    });
  });
}
