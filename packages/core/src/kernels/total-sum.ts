import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type HostMemoryBackend, hostOutput, hostValues } from './host-memory.js';
import { TOTAL_SUM_KERNEL } from './kernel-names.js';

/**
 * `MlaanTotalSum` for backends whose tensors live in host memory (cpu, wasm, onednn): one pass
 * over every input. Its inputs are named by position (`0`, `1`, ...), as a kernel's inputs are a
 * map. It serves a finiteness check: a NaN or an Infinity anywhere makes the sum non-finite, as
 * in the per-tensor sums it replaces; the sum itself is accumulated in float64.
 */
export function createTotalSumConfig(backendName: string): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend }) => {
    const host = backend as unknown as HostMemoryBackend;
    let total = 0;
    for (const input of Object.values(inputs) as TensorInfo[]) {
      const values = hostValues(host, input);
      for (let i = 0; i < values.length; i++) total += values[i]!;
    }
    return hostOutput(host, [], Float32Array.of(total));
  };
  return { kernelName: TOTAL_SUM_KERNEL, backendName, kernelFunc };
}
