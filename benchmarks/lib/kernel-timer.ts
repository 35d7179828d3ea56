/**
 * Wall and CPU time of every kernel call on one tfjs backend: each kernel registered for the backend is
 * re-registered with a wrapper that records its name, shapes and milliseconds (outermost calls
 * only, so a kernel that runs another through the registry is not counted twice). Synchronous
 * CPU backends only (onednn, cpu): the kernel's work is done when its function returns.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelCall {
  name: string;
  inputShapes: number[][];
  outputShapes: number[][];
  ms: number;
  /** Process CPU time (every thread, user + system) over the call. */
  cpuMs: number;
}

export interface KernelTimer {
  /** Calls recorded since the last `take()`. */
  take(): KernelCall[];
  /** Puts the original kernels back. */
  restore(): void;
}

function shapesOf(value: unknown): number[][] {
  if (Array.isArray(value)) return value.map((t) => [...(t as tf.TensorInfo).shape]);
  if (value && typeof value === 'object' && 'shape' in value) return [[...(value as tf.TensorInfo).shape]];
  return [];
}

export function timeKernels(backendName: string): KernelTimer {
  const originals = tf.getKernelsForBackend(backendName);
  let calls: KernelCall[] = [];
  let depth = 0;
  for (const config of originals) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        if (depth > 0) return inner(args);
        depth += 1;
        const cpuBefore = process.cpuUsage();
        const started = performance.now();
        try {
          const result = inner(args);
          const ms = performance.now() - started;
          const cpu = process.cpuUsage(cpuBefore);
          const inputShapes = Object.values(args.inputs).flatMap((t) => (t ? [[...(t as tf.TensorInfo).shape]] : []));
          calls.push({ name: config.kernelName, inputShapes, outputShapes: shapesOf(result), ms, cpuMs: (cpu.user + cpu.system) / 1000 });
          return result;
        } finally {
          depth -= 1;
        }
      },
    });
  }
  return {
    take() {
      const taken = calls;
      calls = [];
      return taken;
    },
    restore() {
      for (const config of originals) {
        tf.unregisterKernel(config.kernelName, backendName);
        tf.registerKernel(config);
      }
    },
  };
}
