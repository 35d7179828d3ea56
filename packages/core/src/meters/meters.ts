import * as tf from '@tensorflow/tfjs-core';

export interface MemorySample {
  /** Largest number of bytes held by live tensors while the function ran. */
  peakTensorBytes: number;
  /** Tensor bytes alive when it started (weights, optimizer state). */
  baselineTensorBytes: number;
  /** Tensors the function left behind (0 for a leak-free step). */
  newTensors: number;
  /** Resident set size of the process after the function. */
  rssBytes: number;
}

/**
 * Run `fn` under tf.profile to record the peak bytes held by tensors, and read the process RSS.
 * Profiling records every kernel, so use it on sampled steps, not on all of them.
 */
export async function measureMemory<T>(fn: () => T): Promise<{ result: T; memory: MemorySample }> {
  const baseline = tf.memory().numBytes;
  let result!: T;
  const info = await tf.profile(() => {
    result = fn();
    return [] as tf.Tensor[];
  });
  return {
    result,
    memory: {
      peakTensorBytes: info.peakBytes,
      baselineTensorBytes: baseline,
      newTensors: info.newTensors,
      rssBytes: process.memoryUsage().rss,
    },
  };
}

export interface ThroughputSummary {
  steps: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  meanStepMs: number;
  medianStepMs: number;
}

/** Step times and images per second over a run; the first `warmupSteps` are not counted. */
export class ThroughputMeter {
  private readonly times: number[] = [];
  private images = 0;
  private seen = 0;
  private started = 0;

  constructor(readonly warmupSteps = 1) {}

  start(): void {
    this.started = performance.now();
  }

  /** Call after a step of `batchSize` images finished (after its data is read back). */
  stop(batchSize: number): number {
    const ms = performance.now() - this.started;
    this.seen += 1;
    if (this.seen > this.warmupSteps) {
      this.times.push(ms);
      this.images += batchSize;
    }
    return ms;
  }

  summary(): ThroughputSummary {
    const seconds = this.times.reduce((a, b) => a + b, 0) / 1000;
    const sorted = [...this.times].sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : NaN;
    return {
      steps: this.times.length,
      images: this.images,
      seconds,
      imagesPerSecond: seconds > 0 ? this.images / seconds : NaN,
      meanStepMs: this.times.length ? (seconds * 1000) / this.times.length : NaN,
      medianStepMs: median,
    };
  }
}
