import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { type HostMemoryBackend, hostOutput, hostValues } from './host-memory.js';
import { RUNNING_STATISTICS_KERNEL, type RunningStatisticsAttrs, type RunningStatisticsInputs } from './kernel-names.js';

/**
 * `MlaanRunningStatistics` for backends whose tensors live in host memory (cpu, wasm, onednn):
 * one pass over the channels, each intermediate rounded to float32 where the composed update
 * (`ops/batch-norm.ts`) rounds it, so both give the same bits.
 */
export function createRunningStatisticsConfig(backendName: string): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { runningMean, runningVariance, mean, biasedVariance } = inputs as unknown as RunningStatisticsInputs;
    const { momentum, count } = attrs as unknown as RunningStatisticsAttrs;
    const host = backend as unknown as HostMemoryBackend;
    const [oldMean, oldVariance, batchMean, batchVariance] = [runningMean, runningVariance, mean, biasedVariance].map((t) => hostValues(host, t));
    const f = Math.fround;
    const keep = f(1 - momentum);
    const take = f(momentum);
    const unbias = f(count / Math.max(count - 1, 1));
    const channels = oldMean!.length;
    const nextMean = new Float32Array(channels);
    const nextVariance = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      nextMean[c] = f(oldMean![c]! * keep) + f(batchMean![c]! * take);
      nextVariance[c] = f(oldVariance![c]! * keep) + f(f(batchVariance![c]! * unbias) * take);
    }
    return [hostOutput(host, runningMean.shape, nextMean), hostOutput(host, runningVariance.shape, nextVariance)];
  };
  return { kernelName: RUNNING_STATISTICS_KERNEL, backendName, kernelFunc };
}
