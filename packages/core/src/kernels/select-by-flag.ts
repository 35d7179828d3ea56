import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { SELECT_BY_FLAG_KERNEL, type SelectByFlagInputs } from './kernel-names.js';

interface HostMemoryBackend {
  readSync(dataId: object): ArrayLike<number>;
  incRef(dataId: object): void;
}

/**
 * `MlaanSelectByFlag` for backends whose tensors live in host memory (cpu, wasm, onednn): the
 * flag is one byte the backend already holds, so the kernel hands back the chosen input's buffer
 * by reference count instead of selecting element by element (a step commits every variable it
 * wrote this way). Backends on a device (webgpu) keep the element-wise `where`.
 */
export function createSelectByFlagConfig(backendName: string): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend }) => {
    const { flag, whenTrue, whenFalse } = inputs as unknown as SelectByFlagInputs;
    const host = backend as unknown as HostMemoryBackend;
    const chosen: TensorInfo = host.readSync(flag.dataId)[0] ? whenTrue : whenFalse;
    host.incRef(chosen.dataId);
    return { dataId: chosen.dataId, shape: chosen.shape, dtype: chosen.dtype };
  };
  return { kernelName: SELECT_BY_FLAG_KERNEL, backendName, kernelFunc };
}
