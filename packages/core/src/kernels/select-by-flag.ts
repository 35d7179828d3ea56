import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type HostMemoryBackend, hostValues } from './host-memory.js';
import { SELECT_BY_FLAG_KERNEL } from './kernel-names.js';

/**
 * `MlaanSelectByFlag` for backends whose tensors live in host memory (cpu, wasm, onednn): the
 * flag is one byte the backend already holds, so the kernel hands back the chosen input's buffer
 * of each pair by reference count instead of selecting element by element (a step commits every
 * variable it wrote this way, in one call). Backends on a device (webgpu) keep the element-wise
 * `where`.
 */
export function createSelectByFlagConfig(backendName: string): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend }) => {
    const host = backend as unknown as HostMemoryBackend;
    const side = hostValues(host, inputs.flag as TensorInfo)[0] ? 'whenTrue' : 'whenFalse';
    const outputs: TensorInfo[] = [];
    for (let i = 0; `whenTrue${i}` in inputs; i++) {
      const chosen = inputs[`${side}${i}`] as TensorInfo;
      host.incRef(chosen.dataId);
      outputs.push({ dataId: chosen.dataId, shape: chosen.shape, dtype: chosen.dtype });
    }
    return outputs;
  };
  return { kernelName: SELECT_BY_FLAG_KERNEL, backendName, kernelFunc };
}
