import * as tf from '@tensorflow/tfjs-core';

export interface MemorySample {
  /**
   * Largest number of bytes held by live tensors while the function ran, as tfjs counts them:
   * per tensor handle, so a clone that shares its source's data counts twice.
   */
  peakTensorBytes: number;
  /** Tensor bytes alive when it started (weights, optimizer state), counted the same way. */
  baselineTensorBytes: number;
  /**
   * The most bytes of distinct tensor data buffers the function held at once on top of what was
   * alive when it started: the memory it really needed (clones share data and count once).
   */
  peakBufferAllocationBytes: number;
  /** Tensors the function left behind (0 for a leak-free step). */
  newTensors: number;
  /** Resident set size of the process after the function. */
  rssBytes: number;
  /** What the device held, on backends whose tensors live in device memory (webgpu); absent elsewhere. */
  device?: DeviceMemorySample;
}

/**
 * Device (GPU) memory as a GPU backend reports it in `tf.memory()`: tfjs's WebGPU backend
 * (numBytesInGPU, numBytesAllocatedInGPU) and WebGL (numBytesInGPU, numBytesInGPUAllocated).
 * The CPU backends report none.
 */
export interface DeviceMemory {
  /** Bytes of device buffers that hold live tensors (and, until the queue is submitted, tensors just freed). */
  inUseBytes: number;
  /** Bytes the backend has allocated on the device, including freed buffers it keeps for reuse. */
  allocatedBytes: number;
}

export interface DeviceMemorySample extends DeviceMemory {
  /** The most device bytes in use while the function ran (sampled as each buffer was made). */
  peakInUseBytes: number;
}

interface DeviceMemoryFields {
  numBytesInGPU?: unknown;
  numBytesAllocatedInGPU?: unknown;
  numBytesInGPUAllocated?: unknown;
}

/** The active backend's device memory, or undefined for a backend that keeps tensors in host memory. */
export function deviceMemory(): DeviceMemory | undefined {
  // The backend's own memory(): tf.memory() also counts every tensor, and this runs per buffer made.
  const fields = tf.backend().memory() as DeviceMemoryFields;
  const inUse = fields.numBytesInGPU;
  const allocated = fields.numBytesAllocatedInGPU ?? fields.numBytesInGPUAllocated;
  if (typeof inUse !== 'number') return undefined;
  return { inUseBytes: inUse, allocatedBytes: typeof allocated === 'number' ? allocated : inUse };
}

interface EngineInternals {
  state: { tensorInfo: WeakMap<object, { backend: unknown; bytes: number }> };
  trackTensor(tensor: tf.Tensor, backend: unknown): void;
  removeDataId(dataId: object, backend: unknown): void;
}

/** A running count of the distinct data buffers made since it started; `stop` ends it. */
export interface BufferTracking {
  /**
   * Stops counting (restores the engine) and returns the peak and the bytes still held; on a
   * device backend also the most device bytes in use when a buffer was made.
   */
  stop(): { peak: number; held: number; devicePeak?: number };
}

/**
 * Follows distinct data buffers from now until `stop()`. tfjs's own byte count is per tensor
 * handle, and this library clones (shares) activations freely, so that count overstates memory;
 * the engine records a buffer when its first handle is made and forgets it when the backend frees
 * it, and those two points are what is counted here. It may span awaits (a pipeline worker's
 * step waits for its neighbours): everything the engine allocates meanwhile is counted, so use it
 * where nothing else runs on this engine (one step of a worker thread).
 */
export function startBufferTracking(): BufferTracking {
  const engine = tf.engine() as unknown as EngineInternals;
  const track = engine.trackTensor;
  const remove = engine.removeDataId;
  let current = 0;
  let peak = 0;
  const onDevice = deviceMemory() !== undefined;
  let devicePeak = 0;
  engine.trackTensor = function (tensor, backend) {
    const fresh = !engine.state.tensorInfo.has(tensor.dataId);
    track.call(engine, tensor, backend);
    if (fresh) {
      current += engine.state.tensorInfo.get(tensor.dataId)?.bytes ?? 0;
      peak = Math.max(peak, current);
      // A kernel's output buffer exists on the device by the time its tensor is tracked.
      if (onDevice) devicePeak = Math.max(devicePeak, deviceMemory()?.inUseBytes ?? 0);
    }
  };
  engine.removeDataId = function (dataId, backend) {
    const info = engine.state.tensorInfo.get(dataId);
    remove.call(engine, dataId, backend);
    if (info && info.backend === backend && !engine.state.tensorInfo.has(dataId)) current -= info.bytes;
  };
  return {
    stop() {
      engine.trackTensor = track;
      engine.removeDataId = remove;
      return { peak, held: current, ...(onDevice ? { devicePeak } : {}) };
    },
  };
}

function trackBuffers<T>(fn: () => T): { result: T; peak: number; held: number; devicePeak?: number } {
  const tracking = startBufferTracking();
  let counted: ReturnType<BufferTracking['stop']> | undefined;
  try {
    const result = fn();
    counted = tracking.stop();
    return { result, ...counted };
  } finally {
    if (!counted) tracking.stop();
  }
}

/** Bytes of float32 tensors (trainer variables and momentum buffers are float32). */
export function float32Bytes(tensors: Iterable<tf.Tensor>): number {
  let total = 0;
  for (const tensor of tensors) total += tensor.size * 4;
  return total;
}

/**
 * Whether step `index` (0-based, counted over the whole run) is one that memory is sampled on:
 * step 1 and every `every` steps after it (all of them for 1; none for 0). Step 0 is left out,
 * since it creates the optimizer's state and pays for kernel set-up, unless the run has no other:
 * a run of `steps` = 1 samples its one step. The bench's sequential run and the pipeline's workers
 * use this one rule, so they sample the same steps.
 */
export function isMemorySampledStep(index: number, every: number, steps = Infinity): boolean {
  if (every <= 0) return false;
  return index % every === 1 % every || (index === 0 && steps === 1);
}

/**
 * Bytes of the distinct data buffers `fn` created that are still alive when it returns (what a
 * traced forward keeps for its backward, say). Synchronous and cheap: no kernel profile.
 */
export function heldBufferBytes<T>(fn: () => T): { result: T; bytes: number } {
  const { result, held } = trackBuffers(fn);
  return { result, bytes: held };
}

/**
 * Run `fn` under tf.profile to record the peak bytes held by tensors (tfjs's count and distinct
 * buffers), and read the process RSS. Profiling records every kernel, so use it on sampled steps.
 */
export async function measureMemory<T>(fn: () => T): Promise<{ result: T; memory: MemorySample; kernels: Awaited<ReturnType<typeof tf.profile>>['kernels'] }> {
  const baseline = tf.memory().numBytes;
  let result!: T;
  let peakBuffers = 0;
  let devicePeak: number | undefined;
  const info = await tf.profile(() => {
    const tracked = trackBuffers(fn);
    result = tracked.result;
    peakBuffers = tracked.peak;
    devicePeak = tracked.devicePeak;
    return [] as tf.Tensor[];
  });
  const device = deviceMemory();
  return {
    result,
    memory: {
      peakTensorBytes: info.peakBytes,
      baselineTensorBytes: baseline,
      peakBufferAllocationBytes: peakBuffers,
      newTensors: info.newTensors,
      rssBytes: process.memoryUsage().rss,
      ...(device && devicePeak !== undefined ? { device: { ...device, peakInUseBytes: Math.max(devicePeak, device.inUseBytes) } } : {}),
    },
    kernels: info.kernels,
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
