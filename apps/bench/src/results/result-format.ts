import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendDevice, ModuleCosts, PipelineWorkerMeters, Placement } from '@mlaan/core';
import type { RunConfig } from '../configuration/settings.js';
import { ResultsFolderError } from '../errors.js';
import type { MachineInfo } from '../machine.js';
import type { Provenance } from '../provenance.js';
import { readJsonFile, writeJsonAtomic } from './json-files.js';
import { READABLE_RESULT_VERSIONS, upgradeResult } from './result-versions.js';

/**
 * The file one finished configuration leaves in `runs/<id>/result.json`: what it is, how to write
 * it (atomically, so an interrupted write never leaves half a result) and how to read it back.
 */
export const RESULT_FORMAT = 'mlaan-bench-result';
/**
 * 3: a host's options are recorded under its framework's name (`config.frameworkOptions.dgl.head`).
 * 2: the memory column is the training step's own peak; per-module losses, parameters split,
 * provenance. Version 2 files are read (and upgraded as they are read, `result-versions.ts`).
 */
export const RESULT_VERSION = 3;
export const RESULT_FILE = 'result.json';

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  /** The learning rate this epoch actually trained at (after warm-up and schedule). */
  learningRate: number;
  trainLoss: number;
  /** Mean of each loss term over the epoch's images, by term name (the local-learning view). */
  moduleLosses: Record<string, number>;
  testErrorPercent: number;
  testLoss: number;
  /** Wall seconds of the epoch (training, data waits and evaluation). */
  seconds: number;
  imagesPerSecond: number;
}

export interface LossPoint {
  /** Fractional epoch at the end of the window (0.5 = half-way through the first epoch). */
  epoch: number;
  step: number;
  /** Mean training loss of the last module over the window. */
  loss: number;
}

/** Trainable parameters, backbone apart from what local learning adds around it. */
export interface ParameterCounts {
  total: number;
  backbone: number;
  /** Heads, decoders, leap nets: every trainable variable outside the backbone. */
  auxiliary: number;
  /** The auxiliary parameters by owner (the first segment of the variable name: a head or plugin). */
  auxiliaryByOwner: Record<string, number>;
  /** Non-trainable state that is not backbone batch-norm statistics: EMA twins above all. */
  auxiliaryBuffers: number;
}

export interface StepMemory {
  /**
   * The training step's own peak, as benchmarks/mlaan-cost.ts measures it: the trainer's state
   * (weights of backbone, heads, decoders, leap nets and twins; optimizer state) when the step
   * began, plus the most the step allocated on top, counting distinct data buffers once.
   */
  stepPeakBytes: number;
  /** The trainer's state part of `stepPeakBytes` (largest seen). */
  stateBytes: number;
  /** The largest number of bytes a step allocated on top of the state. */
  stepAllocationBytes: number;
  /** tfjs's own per-handle peak (charges shared clones again), for comparison with tf.memory(). Null: not measured (`--workers` > 1). */
  peakTensorHandleBytes: number | null;
  /** True when those tensors live in GPU memory (tensorflow-gpu, webgpu). */
  tensorBytesOnGpu: boolean;
  /** Steps measured (0: none, and the byte fields above are not measurements). */
  sampledSteps: number;
  /** `--memory-every` of the run (0: memory was not to be measured); absent in results written before it was recorded. */
  sampleEvery?: number;
  /**
   * `--workers` > 1: each worker's own step peak, measured the same way in the worker (its state:
   * the variables it holds and their momentum; plus what its step allocates). Each worker stands
   * for one device, so the fields above are the largest worker's, not the whole model's. Null or
   * absent for the sequential trainer.
   */
  workers?: WorkersStepMemory | null;
}

/** One pipeline worker's step memory (largest over its sampled steps). */
export interface WorkerStepMemory {
  worker: number;
  /** Its modules `[first, end)`. */
  modules: [number, number];
  stepPeakBytes: number;
  stateBytes: number;
  stepAllocationBytes: number;
  sampledSteps: number;
}

export interface WorkersStepMemory {
  count: number;
  /** The workers' step peaks added up: what all the devices together hold at most. */
  stepPeakBytesSum: number;
  perWorker: WorkerStepMemory[];
}

export interface DataMemory {
  /** Images and labels the input pipeline holds in host memory (training and test sets). */
  datasetBytes: number;
  /**
   * Tensor bytes alive outside the trainer when a sampled step began: the batch, and whatever
   * evaluation or the loader left behind (largest seen). Grows with epochs only if something leaks.
   */
  tensorsOutsideTrainerBytes: number;
  /** Tensors alive after an epoch's evaluation that were not before it (largest over epochs; 0 = none left). */
  tensorsLeftByEvaluation: number;
}

export interface ProcessMemory {
  /** Largest resident set size of the process seen after a step. */
  peakRssBytes: number;
  /**
   * Extra tf.memory() fields the backend reports (largest seen after a sampled step; webgpu:
   * numBytesInGPU, numBytesAllocatedInGPU), and on GPU backends stepPeakBytesInGPU: the most GPU
   * bytes in use during a sampled step.
   */
  backendFields: Record<string, number>;
}

/** What `--workers` adds to a result: where the modules ran and each worker's meters. */
export interface PipelineSummary {
  workers: number;
  exchange: 'exact' | 'delayed';
  placement: Placement;
  moduleCosts: ModuleCosts | null;
  meters: PipelineWorkerMeters[];
}

export interface RunResult {
  format: typeof RESULT_FORMAT;
  version: number;
  id: string;
  method: string;
  config: RunConfig;
  /** Local modules actually trained (K; 15 for ResNet-32 per block). */
  modules: number;
  /** 'diverged': the training loss became NaN or infinite, and the run stopped there. */
  status: 'completed' | 'diverged';
  backend: { choice: string; tfjsBackend: string; description: string; device?: BackendDevice };
  /** How the trainer held module activations (`LocalTrainer.schedule`: keep, window or sweep). */
  schedule: 'keep' | 'window' | 'sweep';
  trainImages: number;
  testImages: number;
  parameters: ParameterCounts;
  testErrorPercent: { best: number; bestEpoch: number; last: number };
  lastTestLoss: number;
  lastTrainLoss: number;
  memory: { step: StepMemory; data: DataMemory; process: ProcessMemory };
  throughput: { imagesPerSecond: number; measuredSteps: number; meanStepMs: number };
  /** Set when the schedule never reached the configured learning rate (epochs ≤ warm-up epochs). */
  warning: string | null;
  wallSeconds: number;
  trainSeconds: number;
  evalSeconds: number;
  epochs: EpochRecord[];
  lossCurve: LossPoint[];
  /** 1 + the number of times the run was resumed from a checkpoint. */
  sessions: number;
  /** The command line of the session that finished the run. */
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  provenance: Provenance;
  /** `--workers` > 1: the pipelined trainer's placement, measured module costs and per-worker meters (busy, waiting, transfer, memory); null for the sequential trainer. Absent in older results. */
  pipeline?: PipelineSummary | null;
}

export async function writeResult(runDir: string, result: RunResult): Promise<void> {
  await mkdir(runDir, { recursive: true });
  await writeJsonAtomic(join(runDir, RESULT_FILE), result);
}

/** The finished result of a configuration folder, or undefined when it has none yet. */
export async function readResult(runDir: string): Promise<RunResult | undefined> {
  const path = join(runDir, RESULT_FILE);
  const parsed = (await readJsonFile(path, 'Delete it to train that configuration again.')) as Partial<RunResult> | undefined;
  if (!parsed) return undefined;
  if (parsed.format !== RESULT_FORMAT) {
    throw new ResultsFolderError(`${path} is not an mlaan-bench result (format '${String(parsed.format)}'). Delete it or use another --out folder.`);
  }
  const upgraded = upgradeResult(parsed as Record<string, unknown>) as RunResult | undefined;
  if (!upgraded) {
    throw new ResultsFolderError(
      `${path} was written by another version of mlaan-bench (result version ${String(parsed.version)}, this one reads ${READABLE_RESULT_VERSIONS.join(' and ')}). ` +
        'Train it again with --force, or use another --out folder.',
    );
  }
  return upgraded;
}

export type { Provenance } from '../provenance.js';
