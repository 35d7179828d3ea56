import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type HostMemoryBackend, hostOutput, hostValues } from './host-memory.js';
import { SGD_UPDATE_KERNEL, type SgdUpdateAttrs, type SgdUpdateInputs } from './kernel-names.js';

/**
 * `MlaanSgdUpdate` for backends whose tensors live in host memory (cpu, wasm, onednn): one pass
 * over the variable. Every intermediate is rounded to float32 where the composed update
 * (`ops/sgd-update.ts`) rounds it, one element-wise kernel at a time, so both give the same bits.
 */
export function createSgdUpdateConfig(backendName: string): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { variable, gradient, momentumBuffer } = inputs as unknown as SgdUpdateInputs;
    const { learningRate, momentum, nesterov, weightDecay, dampening, firstStep } = attrs as unknown as SgdUpdateAttrs;
    const host = backend as unknown as HostMemoryBackend;
    const values = hostValues(host, variable);
    const gradients = hostValues(host, gradient);
    const buffer = momentumBuffer === undefined || firstStep ? undefined : hostValues(host, momentumBuffer);
    const size = values.length;
    const nextValues = new Float32Array(size);
    const nextBuffer = momentum !== 0 ? new Float32Array(size) : undefined;
    const f = Math.fround;
    // The scalars as the composed update's float32 scalar tensors hold them.
    const rate = f(learningRate);
    const decay = f(weightDecay);
    const mass = f(momentum);
    const kept = f(1 - dampening);
    for (let i = 0; i < size; i++) {
      const value = values[i]!;
      let direction = gradients[i]!;
      if (decay !== 0) direction = f(direction + f(value * decay));
      if (nextBuffer !== undefined) {
        const next = buffer === undefined ? direction : f(f(buffer[i]! * mass) + (dampening !== 0 ? f(direction * kept) : direction));
        nextBuffer[i] = next;
        direction = nesterov ? f(direction + f(next * mass)) : next;
      }
      nextValues[i] = value - f(direction * rate);
    }
    const outputs = [hostOutput(host, variable.shape, nextValues)];
    if (nextBuffer !== undefined) outputs.push(hostOutput(host, variable.shape, nextBuffer));
    return outputs;
  };
  return { kernelName: SGD_UPDATE_KERNEL, backendName, kernelFunc };
}
