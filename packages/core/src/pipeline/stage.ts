import * as tf from '@tensorflow/tfjs-core';
import type { NamedVariable } from '../layers/layer.js';
import { type BufferTracking, float32Bytes, isMemorySampledStep, startBufferTracking } from '../meters/meters.js';
import { headKey } from '../training/plugin-host.js';
import type { LocalTrainer } from '../training/trainer.js';
import type { Batch } from '../training/plugin.js';
import { crossesBoundaries, stepWithExchange, type TermCotangent } from './cotangent-exchange.js';
import type { BatchMessage, PipelineExchange, StageMeters, TensorRecord } from './messages.js';
import { buildRecipeTrainer, type TrainerRecipe } from './recipe.js';
import { assignRecords, variableRecords } from './tensor-records.js';

/** A typed array whose whole, unshared buffer can be transferred; a copy when it is a view. */
export function transferable<T extends Float32Array | Int32Array>(array: T): T {
  const whole = array.buffer instanceof ArrayBuffer && array.byteOffset === 0 && array.byteLength === array.buffer.byteLength;
  return whole ? array : (array.slice() as T);
}

/** The variables (parameters and buffers) of modules `[first, end)` and of the heads at their outputs. */
export function variablesOfRange(trainer: LocalTrainer, first: number, end: number): NamedVariable[] {
  const owned: NamedVariable[] = [];
  for (let m = first; m < end; m++) {
    owned.push(...trainer.modules[m]!.namedParameters(), ...trainer.modules[m]!.namedBuffers());
    for (const term of trainer.plan.endingAt[m]!) {
      const head = trainer.heads.get(headKey(m, term.role))!;
      owned.push(...head.namedParameters(), ...(head.namedBuffers?.() ?? []));
    }
  }
  const seen = new Set<tf.Variable>();
  return owned.filter(([, v]) => (seen.has(v) ? false : (seen.add(v), true)));
}

/**
 * One worker's share of a pipelined run: a `LocalTrainer` built from the recipe, of which it
 * keeps modules `[first, end)` and their heads (the rest is disposed, so its memory is its own),
 * and steps them with `stepModules` on each batch that arrives.
 */
export class PipelineStage {
  readonly meters: StageMeters = {
    steps: 0,
    busyMs: 0,
    waitingInputMs: 0,
    waitingOutputMs: 0,
    transferMs: 0,
    bytesSent: 0,
    peakQueued: 0,
    numTensors: 0,
    numBytes: 0,
    peakBytesBetweenSteps: 0,
    stepPeakBytes: 0,
    stateBytes: 0,
    stepAllocationBytes: 0,
    sampledSteps: 0,
  };
  /** Owned variables by their checkpoint names. */
  private readonly owned: Map<string, tf.Variable>;
  /** Whether loss terms cross into the stage before (`before`) or the one after (`after`). */
  readonly crossing: { before: boolean; after: boolean };
  /** `delayed`: this stage's input and index of its last batch, whose cotangents the next step applies. */
  private previous: { input: tf.Tensor; index: number } | undefined;
  /**
   * Plugins update state after the backward (LAM's EMA twins read later modules' weights): the
   * stage then keeps the whole model, later workers' modules as replicas they refresh every step.
   */
  readonly stateful: boolean;
  /** Every variable this worker holds, by checkpoint name (the owned ones, or all when `stateful`). */
  private readonly held: Map<string, tf.Variable>;
  /** The index of the last batch this stage stepped since it was built or loaded. */
  private lastIndex: number | undefined;

  private constructor(
    readonly trainer: LocalTrainer,
    readonly first: number,
    readonly end: number,
    readonly exchange: PipelineExchange,
    /** Measure the step's memory on step 1 and every this many steps (0: never). */
    readonly memoryEvery: number,
  ) {
    this.owned = new Map(variablesOfRange(trainer, first, end));
    this.crossing = crossesBoundaries(trainer, first, end);
    this.stateful = trainer.plugins.some((p) => p.afterBackward);
    const all = [...trainer.namedParameters(), ...trainer.namedBuffers()];
    this.held = this.stateful ? new Map(all) : this.owned;
    const ownedVariables = new Set(this.owned.values());
    if (!this.stateful) for (const [, v] of all) if (!ownedVariables.has(v)) v.dispose();
    this.recordMemory();
  }

  static async create(recipe: TrainerRecipe, first: number, end: number, exchange: PipelineExchange = 'exact', memoryEvery = 0): Promise<PipelineStage> {
    const trainer = await buildRecipeTrainer(recipe);
    return new PipelineStage(trainer, first, end, exchange, memoryEvery);
  }

  /** Forgets the delayed cotangents' batch (after a checkpoint is loaded, the next step starts afresh). */
  resetExchange(): void {
    this.previous?.input.dispose();
    this.previous = undefined;
    this.lastIndex = undefined;
  }

  /** Whether this stage steps through `stepExchanging` (terms across its boundaries, or plugin state updates). */
  get exchanges(): boolean {
    return this.crossing.before || this.crossing.after || this.stateful;
  }

  /** The owned modules' variables (not their heads'): what a `stateful` stage sends the stages before it. */
  moduleRecords(): TensorRecord[] {
    const names = new Set<string>();
    for (let m = this.first; m < this.end; m++) for (const [name] of [...this.trainer.modules[m]!.namedParameters(), ...this.trainer.modules[m]!.namedBuffers()]) names.add(name);
    return variableRecords([...this.owned].filter(([name]) => names.has(name)), this.trainer.optimizer).variables;
  }

  /** Assigns a later stage's module variables to this stage's replicas. */
  refresh(records: readonly TensorRecord[]): void {
    assignRecords(this.held, this.trainer.optimizer, records, []);
  }

  get isLast(): boolean {
    return this.end === this.trainer.modules.length;
  }

  private recordMemory(): void {
    const memory = tf.memory();
    this.meters.numTensors = memory.numTensors;
    this.meters.numBytes = memory.numBytes;
    this.meters.peakBytesBetweenSteps = Math.max(this.meters.peakBytesBetweenSteps, memory.numBytes);
  }

  /**
   * What this worker keeps between steps: the variables it holds (owned, plus replicas when
   * `stateful`), the momentum buffers of those it steps, and the delayed exchange's kept input.
   * Counted as the sequential bench counts a trainer's state, so the two step peaks compare.
   */
  stateBytes(): number {
    const kept = this.previous ? float32Bytes([this.previous.input]) : 0;
    return float32Bytes(this.held.values()) + float32Bytes(this.trainer.optimizer.state().values()) + kept;
  }

  /** On a sampled step: the state now, and the count of what the step allocates from here on. */
  private startStepMemory(index: number): { stateBytes: number; tracking: BufferTracking } | undefined {
    if (!isMemorySampledStep(index, this.memoryEvery)) return undefined;
    return { stateBytes: this.stateBytes(), tracking: startBufferTracking() };
  }

  private finishStepMemory(sample: { stateBytes: number; tracking: BufferTracking } | undefined): void {
    if (!sample) return;
    const { peak } = sample.tracking.stop();
    const meters = this.meters;
    meters.stateBytes = Math.max(meters.stateBytes, sample.stateBytes);
    meters.stepAllocationBytes = Math.max(meters.stepAllocationBytes, peak);
    meters.stepPeakBytes = Math.max(meters.stepPeakBytes, sample.stateBytes + peak);
    meters.sampledSteps += 1;
  }

  /**
   * Steps the owned modules on one batch. Returns their losses and, except on the last stage, the
   * message for the next stage with the buffers to transfer (this stage keeps no reference).
   * For a stage whose loss terms cross its boundaries (`crossing`), use `stepExchanging`.
   */
  step(message: BatchMessage): { losses: Record<string, number>; loss: number; batchSize: number; next?: BatchMessage; transfer: ArrayBuffer[] } {
    const started = performance.now();
    const { batch, input } = this.receive(message);
    const built = performance.now();
    // The batch and input are made before the count starts, as the sequential bench's batch is.
    const sample = this.startStepMemory(message.index);
    let result;
    try {
      result = this.trainer.stepModules(batch, { first: this.first, end: this.end, input });
    } finally {
      this.finishStepMemory(sample);
      tf.dispose([batch.inputs, batch.labels, ...(input ? [input] : [])]);
    }
    const stepped = performance.now();
    const { output, losses, loss, batchSize } = result;
    let next: BatchMessage | undefined;
    const transfer: ArrayBuffer[] = [];
    if (this.isLast) output?.dispose();
    else {
      const activationShape = output!.shape;
      const activation = transferable(output!.dataSync() as Float32Array);
      output!.dispose();
      ({ next } = this.forward(message, activation, activationShape, transfer));
    }
    const done = performance.now();
    this.meters.busyMs += stepped - built;
    this.meters.transferMs += built - started + (done - stepped);
    this.meters.steps += 1;
    this.recordMemory();
    return { losses, loss, batchSize, next, transfer };
  }

  /**
   * Steps the owned modules with the exact exchange of cotangents (`stepWithExchange`): `send`
   * passes the output on (the stage waits for room there), `receive` waits for this batch's
   * cotangents from the next stage. Returns the cotangents for the stage before.
   */
  async stepExchanging(
    message: BatchMessage,
    send: (next: BatchMessage, transfer: ArrayBuffer[]) => Promise<void>,
    receive: (index: number) => Promise<TermCotangent[]>,
    laterWeights: (index: number) => Promise<void> = async () => {},
  ): Promise<{ losses: Record<string, number>; loss: number; batchSize: number; upstream: TermCotangent[] }> {
    const started = performance.now();
    const { batch, input } = this.receive(message);
    let waited = 0;
    let copying = 0;
    const sample = this.startStepMemory(message.index);
    try {
      const result = await stepWithExchange(this.trainer, this.first, this.end, batch, input ?? batch.inputs, async (output) => {
        let waitStarted = performance.now();
        if (!this.isLast) {
          const transfer: ArrayBuffer[] = [];
          // Copies: the output, the image and the labels stay in use for this step's backward.
          const activation = new Float32Array(output.dataSync() as Float32Array);
          const copied = { ...message, image: message.image.slice(), labels: message.labels.slice() };
          const next = this.forward(copied, activation, output.shape, transfer).next;
          const copiedAt = performance.now();
          this.meters.transferMs += copiedAt - waitStarted;
          copying += copiedAt - waitStarted;
          waited += copiedAt - waitStarted;
          waitStarted = copiedAt;
          await send(next, transfer);
        }
        let cotangents: TermCotangent[] = [];
        if (this.crossing.after && this.exchange === 'exact') cotangents = await receive(message.index);
        // Delayed: the previous batch's, if this session stepped it.
        else if (this.crossing.after && this.previous?.index === message.index - 1) cotangents = await receive(message.index - 1);
        waited += performance.now() - waitStarted;
        return cotangents;
      },
        this.exchange === 'delayed' ? { previousInput: this.previous?.input } : undefined,
        this.stateful
          ? async () => {
              // The twins read later modules' weights before this step: those after the previous one.
              const waitStarted = performance.now();
              if (!this.isLast && this.lastIndex === message.index - 1) await laterWeights(message.index - 1);
              waited += performance.now() - waitStarted;
            }
          : undefined,
      );
      this.lastIndex = message.index;
      if (this.exchange === 'delayed' && this.crossing.after) {
        this.previous?.input.dispose();
        this.previous = { input: (input ?? batch.inputs).clone(), index: message.index };
      }
      this.meters.busyMs += performance.now() - started - waited;
      this.meters.waitingOutputMs += waited - copying;
      this.meters.steps += 1;
      return { ...result, batchSize: batch.inputs.shape[0] };
    } finally {
      this.finishStepMemory(sample);
      tf.dispose([batch.inputs, batch.labels, ...(input ? [input] : [])]);
      this.recordMemory();
    }
  }

  private receive(message: BatchMessage): { batch: Batch; input: tf.Tensor | undefined } {
    const inputs = tf.tensor4d(message.image, message.imageShape);
    const labels = tf.tensor1d(message.labels, 'int32');
    const input = message.activation ? tf.tensor(message.activation, message.activationShape) : undefined;
    this.trainer.stepCount = message.index;
    this.trainer.epoch = message.epoch;
    this.trainer.learningRate = message.learningRate;
    return { batch: { inputs, labels, normalization: message.normalization }, input };
  }

  /** The message for the next stage; the image's and labels' tensors are gone, so their buffers move on. */
  private forward(message: BatchMessage, activation: Float32Array, activationShape: number[], transfer: ArrayBuffer[]): { next: BatchMessage } {
    const image = transferable(message.image);
    const labels = transferable(message.labels);
    transfer.push(activation.buffer as ArrayBuffer, image.buffer as ArrayBuffer, labels.buffer as ArrayBuffer);
    this.meters.bytesSent += activation.byteLength + image.byteLength + labels.byteLength;
    return { next: { ...message, image, labels, activation, activationShape } };
  }

  /** Copies of the owned variables and their momentum buffers, by checkpoint name. */
  gather(): { variables: TensorRecord[]; momentum: TensorRecord[] } {
    return variableRecords(this.owned, this.trainer.optimizer);
  }

  /** Assigns the owned variables (and momentum buffers) found in the records; others are ignored. */
  scatter(variables: readonly TensorRecord[], momentum: readonly TensorRecord[]): void {
    assignRecords(this.owned, this.trainer.optimizer, variables, momentum);
    // Replicas of later workers' modules take the loaded values too (no momentum: they never step here).
    if (this.stateful) this.refresh(variables.filter((r) => !this.owned.has(r.name)));
    this.recordMemory();
  }
}
