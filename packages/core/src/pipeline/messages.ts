import type { MessagePort } from 'node:worker_threads';
import type { WireCotangent } from './cotangent-exchange.js';
import type { TrainerRecipe } from './recipe.js';

// The pipeline's wire protocol. Data flows main → stage 0 → … → stage W-1 over MessagePorts
// (one per neighbour pair), with a credit going back for every batch a stage takes from its
// inbox, and, where loss terms cross the boundary, each batch's cotangents. Reports and control
// (gather, scatter) go over each worker's parentPort.

/**
 * How loss terms across a worker boundary (MLM's cascades) get their cotangents: `exact` waits
 * for batch t's before stepping t (the sequential trainer's result); `delayed` applies batch
 * t-1's at step t through the modules re-run on batch t-1's input with the current weights.
 */
export type PipelineExchange = 'exact' | 'delayed';

/** `workerData` of a stage: its recipe, its modules and its two ports. */
export interface StageInit {
  recipe: TrainerRecipe;
  stage: number;
  stageCount: number;
  first: number;
  end: number;
  /** Batches that may wait in the next stage's inbox. */
  capacity: number;
  exchange: PipelineExchange;
  /** Measure the step's memory on step 1 and every this many steps (`isMemorySampledStep`; 0: never). */
  memoryEvery: number;
  /** Where batches come from (main or the previous stage); credits go back on it. */
  upstream: MessagePort;
  /** Where this stage's outputs go; absent for the last stage. */
  downstream?: MessagePort;
}

/** A tensor on the wire: its data travels as a transferred buffer. */
export interface TensorRecord {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

/** One batch entering a stage: the batch itself (heads such as InfoPro's decoder need the image) and, after stage 0, the previous module's output. */
export interface BatchMessage {
  type: 'batch';
  /** The global step number of this batch. */
  index: number;
  learningRate: number;
  epoch: number;
  image: Float32Array;
  imageShape: [number, number, number, number];
  labels: Int32Array;
  normalization?: { mean: readonly number[]; std: readonly number[] };
  activation?: Float32Array;
  activationShape?: number[];
}

export interface CreditMessage {
  type: 'credit';
}

/** A later stage's module variables after its step `index`, for the replicas of the stages before it (LAM's twins read them). */
export interface WeightsMessage {
  type: 'weights';
  index: number;
  stage: number;
  records: TensorRecord[];
}

/** Sent back upstream, per batch, by a stage whose loss terms began before it (MLM's cascades). */
export interface CotangentMessage {
  type: 'cotangents';
  index: number;
  terms: WireCotangent[];
}

/** Cumulative meters of one worker (milliseconds since it started). */
export interface StageMeters {
  steps: number;
  /** Computing its modules' steps. */
  busyMs: number;
  /** Idle, waiting for the next batch from upstream. */
  waitingInputMs: number;
  /** Blocked on the next stage's inbox being full (back-pressure). */
  waitingOutputMs: number;
  /** Reading activations out, building them in, posting them. */
  transferMs: number;
  bytesSent: number;
  /** The most batches that waited in this stage's inbox at once (never above the capacity). */
  peakQueued: number;
  /** `tf.memory()` of the worker after its last step: tensors and their bytes (per handle). */
  numTensors: number;
  numBytes: number;
  /** The largest `numBytes` seen between steps: what the worker keeps, not what a step needs. */
  peakBytesBetweenSteps: number;
  /**
   * The worker's step memory, measured as the sequential bench measures a step (on sampled steps,
   * largest seen): `stateBytes` plus `stepAllocationBytes`. 0 with `sampledSteps` 0: not measured.
   */
  stepPeakBytes: number;
  /**
   * What the worker keeps between steps when a sampled step begins: the variables it holds (its
   * modules' and heads', plus the replicas of later modules that LAM's twins read), their momentum
   * buffers, and with the delayed exchange the previous batch's input it keeps.
   */
  stateBytes: number;
  /** The most bytes of distinct data buffers a sampled step held at once on top of that state. */
  stepAllocationBytes: number;
  /** Steps whose memory was measured. */
  sampledSteps: number;
}

export interface ReadyReport {
  type: 'ready';
  meters: StageMeters;
}

export interface SteppedReport {
  type: 'stepped';
  index: number;
  losses: Record<string, number>;
  loss: number;
  batchSize: number;
  meters: StageMeters;
}

export interface GatheredReport {
  type: 'gathered';
  request: number;
  variables: TensorRecord[];
  momentum: TensorRecord[];
}

export interface ScatteredReport {
  type: 'scattered';
  request: number;
}

export interface FailedReport {
  type: 'failed';
  message: string;
  stack?: string;
}

export type StageReport = ReadyReport | SteppedReport | GatheredReport | ScatteredReport | FailedReport;

export interface GatherRequest {
  type: 'gather';
  request: number;
}

export interface ScatterRequest {
  type: 'scatter';
  request: number;
  variables: TensorRecord[];
  momentum: TensorRecord[];
}

export type StageRequest = GatherRequest | ScatterRequest;
