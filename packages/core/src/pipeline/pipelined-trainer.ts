import * as tf from '@tensorflow/tfjs-core';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { ConfigError, PipelineWorkerError } from '../errors.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointManifest } from '../io/checkpoint.js';
import { SeededRandom } from '../random.js';
import { checkBatch, labelProblem } from '../training/batch-checks.js';
import type { Batch } from '../training/plugin.js';
import type { StepValues } from '../training/step-result.js';
import type { EvaluationResult, LocalTrainer } from '../training/trainer.js';
import { CreditGate } from './flow-control.js';
import type { BatchMessage, CreditMessage, PipelineExchange, StageInit, StageMeters, StageReport, StageRequest } from './messages.js';
import { measureModuleCosts, type ModuleCosts } from './module-costs.js';
import { resolvePipelineOptions, type ResolvedPipelineOptions } from './pipeline-options.js';
import { type AdapterAssignment, assignAdapters, recipeForWorker } from '../backend/adapter-assignment.js';
import { checkPlacement, placeByCost, placeByCount, type Placement } from './placement.js';
import { buildRecipeTrainer, type TrainerRecipe } from './recipe.js';
import { assignRecords, variableRecords } from './tensor-records.js';
import { defaultWorkerEntry, launchWorker } from './worker-launch.js';

export interface PipelinedTrainerOptions {
  /** How each worker (and the main thread's mirror) builds the trainer; see `TrainerRecipe`. */
  recipe: TrainerRecipe;
  /** Worker threads, each with its own tfjs backend, owning a contiguous range of modules. */
  workers: number;
  /**
   * `measured` (default): time each module on a probe batch and minimise the slowest worker;
   * `count`: equal module counts; or the ranges `[first, end)` per worker.
   */
  placement?: 'measured' | 'count' | readonly (readonly [number, number])[];
  /** The probe batch for `measured` (default: 8 random images of the backbone's size). Not disposed. */
  probe?: Batch;
  /** Batches that may wait before each stage (default 2). */
  queueCapacity?: number;
  /** Loss terms across a worker boundary (MLM): `exact` (default, the sequential result) or `delayed` (one step late, no waiting). */
  exchange?: PipelineExchange;
  /**
   * Each worker measures its step's memory (its state plus what the step allocates, as
   * `measureMemory` counts it) on step 1 and every this many steps; 0 (default): never.
   */
  memoryEvery?: number;
  /** The worker entry (default: core's own). */
  workerEntry?: URL;
}

/** One worker's place in the pipeline and its meters (time cumulative; step memory the largest sampled). */
export interface PipelineWorkerMeters extends StageMeters {
  worker: number;
  modules: [first: number, end: number];
}

interface PendingStep {
  promise: Promise<StepValues>;
  reports: number;
  losses: Record<string, number>;
  loss: number;
  batchSize: number;
  resolve: (result: StepValues) => void;
  reject: (error: unknown) => void;
}

interface PendingRequest {
  remaining: number;
  replies: StageReport[];
  resolve: (replies: StageReport[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Module-parallel training: the K local modules, with their heads, placed on W worker threads
 * that each step their own modules on batch t while the next worker steps batch t-1. Module
 * outputs stream forward as transferred buffers through bounded inboxes (back-pressure); since
 * DGL's and InfoPro's terms stay inside one module and each stage steps exactly as
 * `LocalTrainer.stepModules`, the weights after any number of steps equal `LocalTrainer`'s bit
 * for bit. A main-thread mirror of the model (built from the same recipe) takes gathered weights
 * for `evaluate` and checkpoints, which are `LocalTrainer`'s format both ways.
 */
export class PipelinedTrainer {
  /** The main thread's copy of the model, current after `synchronize()` (and every checkpoint or evaluation). */
  readonly mirror: LocalTrainer;
  readonly placement: Placement;
  /**
   * The GPU adapter each worker asked for (GPU backends that list several devices: one each,
   * round robin), and why workers share one when they do; undefined on backends without devices.
   */
  readonly adapters: AdapterAssignment | undefined;
  /** The measured per-module costs (`placement: 'measured'`), else undefined. */
  readonly moduleCosts: ModuleCosts | undefined;
  readonly capacity: number;
  readonly exchange: PipelineExchange;
  /** The worker threads, in pipeline order (exposed for meters and fault tests). */
  readonly threads: readonly Worker[];
  /** Steps submitted so far (every one of them has finished after `drain()`). */
  stepCount: number;
  epoch: number;
  learningRate: number;

  private readonly input: MessagePort;
  private readonly room: CreditGate;
  private sending: Promise<void> = Promise.resolve();
  private readonly pending = new Map<number, PendingStep>();
  private readonly requests = new Map<number, PendingRequest>();
  private nextRequest = 0;
  private readonly latestMeters: StageMeters[];
  private failure: PipelineWorkerError | undefined;
  private closing = false;
  /** The step count the mirror's weights and momentum are current at (undefined: not yet gathered). */
  private mirrorStep: number | undefined;

  private constructor(
    mirror: LocalTrainer,
    placement: Placement,
    costs: ModuleCosts | undefined,
    options: ResolvedPipelineOptions,
    adapters: AdapterAssignment | undefined,
  ) {
    this.mirror = mirror;
    this.placement = placement;
    this.adapters = adapters;
    this.moduleCosts = costs;
    this.capacity = options.queueCapacity ?? 2;
    this.exchange = options.exchange ?? 'exact';
    this.stepCount = mirror.stepCount;
    this.epoch = mirror.epoch;
    this.learningRate = mirror.learningRate;
    this.room = new CreditGate(this.capacity);
    const W = placement.ranges.length;
    const channels = Array.from({ length: W }, () => new MessageChannel());
    this.input = channels[0]!.port1;
    this.input.on('message', (message: CreditMessage) => {
      if (message.type === 'credit') this.room.release();
    });
    const entry = options.workerEntry ?? defaultWorkerEntry();
    const typescript = options.recipe.module.endsWith('.ts');
    this.latestMeters = [];
    this.threads = placement.ranges.map(([first, end], stage) => {
      const upstream = channels[stage]!.port2;
      const downstream = stage + 1 < W ? channels[stage + 1]!.port1 : undefined;
      const init: StageInit = { recipe: recipeForWorker(options.recipe, adapters, stage), stage, stageCount: W, first, end, capacity: this.capacity, exchange: this.exchange, memoryEvery: options.memoryEvery ?? 0, upstream, downstream };
      const worker = launchWorker(entry, { ...init }, downstream ? [upstream, downstream] : [upstream], typescript);
      worker.on('message', (report: StageReport) => this.onReport(stage, report));
      worker.on('error', (error) => this.fail(stage, error.message, error));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(stage, `its thread exited (code ${code}) while the run was going`);
      });
      return worker;
    });
  }

  /**
   * Builds the mirror from the recipe, places the modules (measuring them for `measured`), starts
   * the workers and waits until each has built its stage.
   */
  static async create(given: PipelinedTrainerOptions): Promise<PipelinedTrainer> {
    const options = resolvePipelineOptions(given);
    const mirror = await buildRecipeTrainer(options.recipe);
    let costs: ModuleCosts | undefined;
    let placement: Placement;
    let adapters: AdapterAssignment | undefined;
    const K = mirror.modules.length;
    try {
      if (options.workers > K) {
        throw new ConfigError(`PipelinedTrainer.create(): workers must be at most the number of modules (${K}); got ${options.workers}.`);
      }
      const choice = options.placement;
      if (choice === 'count') placement = placeByCount(K, options.workers);
      else if (choice === 'measured') {
        const probe = options.probe ?? probeBatch(mirror);
        try {
          costs = await measureModuleCosts(mirror, probe);
        } finally {
          if (!options.probe) tf.dispose([probe.inputs, probe.labels]);
        }
        placement = placeByCost(costs.milliseconds, options.workers);
      } else {
        placement = checkPlacement(choice, K);
        if (placement.ranges.length !== options.workers) {
          throw new ConfigError(`placement lists ${placement.ranges.length} ranges for ${options.workers} workers; give one range per worker.`);
        }
      }
      checkExchanges(mirror, placement, options.exchange);
      // One adapter per worker where the backend lists several devices (webgpu on a multi-GPU machine).
      if (options.recipe.backend !== undefined && options.recipe.backendOptions?.adapter === undefined) {
        const assignment = await assignAdapters(options.recipe.backend, placement.ranges.length);
        if (assignment.adapters.some((adapter) => adapter !== undefined) || assignment.note) adapters = assignment;
      }
    } catch (error) {
      mirror.dispose();
      throw error;
    }
    const trainer = new PipelinedTrainer(mirror, placement, costs, options, adapters);
    await trainer.request(() => undefined, 'ready');
    return trainer;
  }

  /** Per worker: its modules and meters (busy, waiting, transfer, memory). */
  meters(): PipelineWorkerMeters[] {
    return this.placement.ranges.map(([first, end], worker) => ({ worker, modules: [first, end], ...this.latestMeters[worker]! }));
  }

  /**
   * Submits one batch and resolves with its values when every worker has stepped it. The batch is
   * copied off the device (asynchronously; the caller may dispose it at once) and its labels are
   * checked on the host before anything is sent. Submitting again before that pipelines the
   * batches; each waits for room in the first worker's inbox. A rejected step never takes the
   * process down: the rejection is handled here and reaches whoever awaits the promise.
   */
  step(batch: Batch): Promise<StepValues> {
    let inputs: tf.Tensor;
    let labels: tf.Tensor;
    try {
      this.throwIfFailed();
      checkBatch(batch, this.mirror.backbone);
      inputs = batch.inputs.clone();
      labels = batch.labels.clone();
    } catch (error) {
      return handled(Promise.reject(error));
    }
    const schedule = { learningRate: this.learningRate, epoch: this.epoch };
    const classes = this.mirror.backbone.classes;
    let settle!: Pick<PendingStep, 'resolve' | 'reject'>;
    const result = handled(new Promise<StepValues>((resolve, reject) => (settle = { resolve, reject })));
    const copied = Promise.all([inputs.data(), labels.data()]).finally(() => tf.dispose([inputs, labels]));
    // In submission order; a batch takes its step index only once it is accepted, so a refused
    // batch leaves no gap in the workers' steps and the run goes on.
    this.sending = this.sending.then(async () => {
      let image: Float32Array;
      let labelValues: Int32Array;
      try {
        const [imageData, labelData] = await copied;
        const problem = labelProblem(labelData as ArrayLike<number>, labels.dtype, classes);
        if (problem) throw problem;
        this.throwIfFailed();
        image = new Float32Array(imageData as Float32Array);
        labelValues = Int32Array.from(labelData as ArrayLike<number>);
      } catch (error) {
        settle.reject(error);
        return;
      }
      const index = this.stepCount;
      this.stepCount += 1;
      this.pending.set(index, { promise: result, reports: 0, losses: {}, loss: NaN, batchSize: 0, ...settle });
      const message: BatchMessage = {
        type: 'batch',
        index,
        ...schedule,
        image,
        imageShape: inputs.shape as [number, number, number, number],
        labels: labelValues,
        normalization: batch.normalization,
      };
      try {
        await this.room.acquire();
        this.input.postMessage(message, [image.buffer as ArrayBuffer, labelValues.buffer as ArrayBuffer]);
      } catch {
        // The run stopped while this batch waited for room: its step was rejected with the failure.
      }
    });
    return result;
  }

  /**
   * Streams `batches` through the pipeline, yielding each step's values in order. Takes ownership
   * of the batches (each is disposed once submitted) and reads ahead only as far as the queues
   * hold, so a slow worker slows the reading instead of filling memory. A failed step rejects the
   * `for await` that reads it.
   */
  async *train(batches: Iterable<Batch> | AsyncIterable<Batch>): AsyncGenerator<StepValues> {
    const ahead = this.threads.length * (this.capacity + 1);
    const inFlight: Promise<StepValues>[] = [];
    for await (const batch of batches as AsyncIterable<Batch>) {
      try {
        inFlight.push(this.step(batch));
      } finally {
        tf.dispose([batch.inputs, batch.labels]);
      }
      while (inFlight.length > ahead) yield await inFlight.shift()!;
    }
    while (inFlight.length) yield await inFlight.shift()!;
  }

  /** Resolves when every submitted step has finished. */
  async drain(): Promise<void> {
    await this.sending;
    await Promise.all([...this.pending.values()].map((step) => step.promise));
    this.throwIfFailed();
  }

  /**
   * Waits for the pipeline to drain and copies every worker's variables and momentum into the
   * mirror; nothing to copy when no step ran since the last time (evaluate after synchronize).
   */
  async synchronize(): Promise<void> {
    await this.drain();
    if (this.mirrorStep === this.stepCount) {
      this.mirror.epoch = this.epoch;
      this.mirror.learningRate = this.learningRate;
      return;
    }
    const replies = await this.request((request) => ({ type: 'gather', request }), 'gathered');
    const byName = new Map([...this.mirror.namedParameters(), ...this.mirror.namedBuffers()]);
    for (const reply of replies) {
      if (reply.type === 'gathered') assignRecords(byName, this.mirror.optimizer, reply.variables, reply.momentum);
    }
    this.mirror.stepCount = this.stepCount;
    this.mirror.epoch = this.epoch;
    this.mirror.learningRate = this.learningRate;
    this.mirrorStep = this.stepCount;
  }

  /** `LocalTrainer.evaluate` on the mirror, after `synchronize()`. Takes ownership of the batches. */
  async evaluate(batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<EvaluationResult> {
    await this.synchronize();
    return this.mirror.evaluate(batches);
  }

  /** Core's `saveCheckpoint` of the synchronized mirror: the same files as a `LocalTrainer`'s (temporary folder, then rename). */
  async saveCheckpoint(dir: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.synchronize();
    await saveCheckpoint(dir, this.mirror, extra);
  }

  /**
   * Core's `loadCheckpoint` into the mirror (checked completely before anything changes), then
   * every variable and momentum buffer to the workers. Loads `LocalTrainer` checkpoints too.
   */
  async loadCheckpoint(dir: string): Promise<CheckpointManifest> {
    await this.drain();
    const manifest = await loadCheckpoint(dir, this.mirror);
    const { variables, momentum } = await variableRecords([...this.mirror.namedParameters(), ...this.mirror.namedBuffers()], this.mirror.optimizer);
    await this.request((request) => ({ type: 'scatter', request, variables, momentum }), 'scattered');
    this.stepCount = manifest.step;
    this.epoch = manifest.epoch;
    this.learningRate = manifest.learningRate;
    this.mirrorStep = manifest.step;
    return manifest;
  }

  /** Terminates every worker and frees the mirror. Pending steps reject. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new ConfigError('The pipelined trainer was closed.');
    this.room.fail(closed);
    for (const step of this.pending.values()) step.reject(closed);
    this.pending.clear();
    for (const r of this.requests.values()) r.reject(closed);
    this.requests.clear();
    this.input.close();
    await Promise.all(this.threads.map((w) => w.terminate()));
    this.mirror.dispose();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
    if (this.closing) throw new ConfigError('The pipelined trainer was closed; create a new one to train again.');
  }

  /** Sends one request to every worker (or none, for `ready`) and collects one reply of `kind` from each. */
  private request(make: (request: number) => StageRequest | undefined, kind: StageReport['type']): Promise<StageReport[]> {
    this.throwIfFailed();
    const id = kind === 'ready' ? -1 : this.nextRequest++;
    const promise = new Promise<StageReport[]>((resolve, reject) => {
      this.requests.set(id, { remaining: this.threads.length, replies: [], resolve, reject });
    });
    const message = make(id);
    if (message) {
      for (const w of this.threads) w.postMessage(message);
    }
    return promise;
  }

  private onReport(stage: number, report: StageReport): void {
    if (report.type === 'failed') {
      this.fail(stage, report.message, Object.assign(new Error(report.message), { stack: report.stack }));
      return;
    }
    if (report.type === 'stepped') {
      this.latestMeters[stage] = report.meters;
      const step = this.pending.get(report.index);
      if (!step) return;
      Object.assign(step.losses, report.losses);
      step.reports += 1;
      if (stage === this.threads.length - 1) {
        step.loss = report.loss;
        step.batchSize = report.batchSize;
      }
      if (step.reports === this.threads.length) {
        this.pending.delete(report.index);
        step.resolve({ step: report.index, losses: step.losses, loss: step.loss, batchSize: step.batchSize });
      }
      return;
    }
    if (report.type === 'ready') this.latestMeters[stage] = report.meters;
    const id = report.type === 'ready' ? -1 : report.request;
    const request = this.requests.get(id);
    if (!request) return;
    request.replies[stage] = report;
    request.remaining -= 1;
    if (request.remaining === 0) {
      this.requests.delete(id);
      request.resolve(request.replies);
    }
  }

  /** The first failure stops everything: workers terminated, every waiter rejected with it. */
  private fail(stage: number, problem: string, cause?: unknown): void {
    if (this.failure || this.closing) return;
    const [first, end] = this.placement.ranges[stage]!;
    this.failure = new PipelineWorkerError(stage, [first, end], problem, { cause });
    this.closing = true;
    this.room.fail(this.failure);
    for (const step of this.pending.values()) step.reject(this.failure);
    this.pending.clear();
    for (const r of this.requests.values()) r.reject(this.failure);
    this.requests.clear();
    this.input.close();
    for (const w of this.threads) void w.terminate();
    this.mirror.dispose();
  }
}

/** Eight random images and labels of the backbone's size, for placement by measured cost. */
function probeBatch(trainer: LocalTrainer): Batch {
  const n = 8;
  const s = trainer.backbone.inputSize;
  const random = new SeededRandom(0);
  const pixels = random.fillNormal(new Float32Array(n * s * s * 3), 0, 1);
  return {
    inputs: tf.tensor4d(pixels, [n, s, s, 3]),
    labels: tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i % trainer.backbone.classes), 'int32'),
  };
}

/**
 * The exchanges a placement needs and the ones this trainer cannot make: a term across more than
 * one boundary with the delayed exchange, and plugin state updates (LAM) in sequential mode.
 */
function checkExchanges(trainer: LocalTrainer, placement: Placement, exchange: PipelineExchange): void {
  if (exchange !== 'exact' && exchange !== 'delayed') throw new ConfigError(`exchange must be 'exact' or 'delayed', got ${JSON.stringify(exchange)}.`);
  if (placement.ranges.length === 1) return;
  if (exchange === 'delayed') {
    const starts = placement.ranges.map(([first]) => first);
    const long = trainer.terms.find((t) => starts.filter((s) => t.span[0] < s && s <= t.span[1]).length > 1);
    if (long) {
      throw new ConfigError(
        `Loss term '${long.name}' spans modules [${long.span.join(', ')}] across more than one worker boundary, which exchange 'delayed' does not take (its cotangents would be late once per boundary). Use exchange 'exact', or fewer workers.`,
      );
    }
  }
  const stateful = trainer.plugins.find((p) => p.afterBackward);
  if (stateful && trainer.mode === 'sequential') {
    throw new ConfigError(
      `Plugin '${stateful.name}' updates state after each backward (afterBackward), which a pipeline of several workers runs only in mode 'simultaneous'; use mode 'simultaneous' or workers: 1.`,
    );
  }
}

/** Marks a promise's rejection as handled (it still rejects for whoever awaits it). */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
