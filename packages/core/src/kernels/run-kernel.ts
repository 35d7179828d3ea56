import {
  getKernel,
  type KernelBackend,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { KernelError } from '../errors.js';

/**
 * Composed kernels call the backend's own kernel functions directly instead of tf ops: ops would
 * go through the engine (tape recording, tensor tracking, scopes) while we are already inside a
 * kernel. Intermediates are plain TensorInfos that the caller frees with `disposeIntermediate`.
 */
export function runBackendKernel(
  kernelName: string,
  backendName: string,
  backend: KernelBackend,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = getKernel(kernelName, backendName);
  if (config == null) {
    throw new KernelError(
      `Composed kernel needs '${kernelName}' on backend '${backendName}', which does not register it; ` +
        `use a backend that has '${kernelName}' or do not register the composed kernels for it.`,
    );
  }
  const result = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(result)) {
    throw new KernelError(`Kernel '${kernelName}' returned several outputs where one was expected.`);
  }
  return result;
}

/** Frees an intermediate result; reshapes share data, and the backend's reference count handles that. */
export function disposeIntermediate(backend: KernelBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}
