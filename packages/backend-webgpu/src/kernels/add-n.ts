import { AddN, type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { disposeIntermediate } from '@mlaan/core';

interface DeviceLimits {
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
}

/**
 * AddN for tfjs's WebGPU backend in groups its shaders can bind. tfjs 4.22 adds every input in
 * one shader, one storage buffer each, and a device binds few per shader (WebGPU's default is 8;
 * lavapipe 16): summing a gradient per variable of a ResNet-32 (100 inputs) makes an invalid
 * pipeline, and the whole queue submission it is part of silently computes nothing. Here inputs
 * are summed by the replaced kernel in groups of at most the limit less one (the output is bound
 * too), then the partial sums the same way, until one remains.
 */
export function createGroupedAddNConfig(backendName: string, fallback: () => KernelConfig | undefined): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const backend = args.backend as KernelBackend;
    const replaced = fallback();
    if (replaced == null) throw new Error(`AddN on '${backendName}' needs the backend's own AddN; import the backend package first.`);
    const limit = (backend as unknown as DeviceLimits).device?.limits?.maxStorageBuffersPerShaderStage ?? 8;
    const group = Math.max(2, limit - 1);
    let inputs = args.inputs as unknown as TensorInfo[];
    if (inputs.length <= group) return replaced.kernelFunc(args);
    const partialSums: TensorInfo[] = [];
    while (inputs.length > group) {
      const sums: TensorInfo[] = [];
      for (let start = 0; start < inputs.length; start += group) {
        const slice = inputs.slice(start, start + group);
        if (slice.length === 1) {
          sums.push(slice[0]!);
          continue;
        }
        const sum = replaced.kernelFunc({ ...args, inputs: slice as never }) as TensorInfo;
        partialSums.push(sum);
        sums.push(sum);
      }
      inputs = sums;
    }
    const total = replaced.kernelFunc({ ...args, inputs: inputs as never }) as TensorInfo;
    disposeIntermediate(backend, ...partialSums);
    return total;
  };
  return { kernelName: AddN, backendName, kernelFunc };
}
