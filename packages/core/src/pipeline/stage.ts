import * as tf from '@tensorflow/tfjs-core';
import { type BufferTracking, float32Bytes, isMemorySampledStep, startBufferTracking } from '../meters/meters.js';
import type { LocalTrainer } from '../training/trainer.js';
import type { Batch } from '../training/plugin.js';
import type { StepValues } from '../training/step-result.js';
import { rangeBoundaries } from '../training/term-plan.js';
import type { BoundaryCotangent } from '../training/step-engine.js';
import type { TrainingStep } from '../training/training-step.js';
import { cotangentsFromWire, cotangentsToWire, type WireCotangent } from './cotangent-exchange.js';
import type { BatchMessage, PipelineExchange, StageMeters, TensorRecord } from './messages.js';
import { buildRecipeTrainer, type TrainerRecipe } from './recipe.js';
import { assignRecords, variableRecords } from './tensor-records.js';

/** A typed array whose whole, unshared buffer can be transferred; a copy when it is a view. */
export function transferable<T extends Float32Array | Int32Array>(array: T): T {
  const whole = array.buffer instanceof ArrayBuffer && array.byteOffset === 0 && array.byteLength === array.buffer.byteLength;
  return whole ? array : (array.slice() as T);
}

/** How a stage talks to its neighbours during a step (the worker's ports). */
export interface StageLinks {
  /** Posts the message for the next stage once its inbox has room (resolves when posted). */
  send(next: BatchMessage, transfer: ArrayBuffer[]): Promise<void>;
  /** Batch `index`'s cotangents from the next stage. */
  receive(index: number): Promise<WireCotangent[]>;
  /** Posts batch `index`'s cotangents to the stage before. */
  sendUpstream(index: number, cotangents: WireCotangent[]): void;
  /** Resolves once the later stages' module weights after their step `index` are in this stage's replicas. */
  laterWeights(index: number): Promise<void>;
}

/**
 * One worker's share of a pipelined run: a `LocalTrainer` built from the recipe, of which it
 * keeps modules `[first, end)` and their heads (the rest is disposed, so its memory is its own),
 * and steps them on each batch with the trainer's own step engine: the same schedule (`keep`,
 * `window` or `sweep`, as the trainer decided) over its range, answering the schedule's boundary
 * requests with its links (the output goes on as soon as it is computed; cotangents of terms that
 * cross a boundary come back and go up, exactly or one batch late).
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
   * stage then keeps copies of what those updates read from later workers (`stateReads`; the whole
   * model when a plugin does not declare it), refreshed every step.
   */
  readonly stateful: boolean;
  /** Every variable this worker holds, by checkpoint name: the owned ones and those replicas. */
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
    this.owned = new Map(trainer.variablesOfRange(first, end));
    const { startsBefore, continuesAfter } = rangeBoundaries(trainer.plan, first, end);
    this.crossing = { before: startsBefore, after: continuesAfter };
    this.stateful = trainer.plugins.some((p) => p.afterBackward);
    const all = [...trainer.namedParameters(), ...trainer.namedBuffers()];
    const replicas = this.stateful ? (trainer.stateReadsOfRange(first, end) ?? all) : [];
    this.held = new Map([...this.owned, ...replicas]);
    const heldVariables = new Set(this.held.values());
    for (const [, v] of all) if (!heldVariables.has(v)) v.dispose();
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

  /** The owned modules' variables (not their heads'): what a `stateful` stage sends the stages before it. */
  async moduleRecords(): Promise<TensorRecord[]> {
    const names = new Set<string>();
    for (let m = this.first; m < this.end; m++) for (const [name] of [...this.trainer.modules[m]!.namedParameters(), ...this.trainer.modules[m]!.namedBuffers()]) names.add(name);
    return (await variableRecords([...this.owned].filter(([name]) => names.has(name)), this.trainer.optimizer)).variables;
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
   * Steps the owned modules on one batch: the trainer's step over `[first, end)`, its schedule's
   * boundary requests answered through `links` (module `end - 1`'s output goes on as soon as it is
   * computed; with terms across a boundary, this batch's cotangents come back (`exact`) or the
   * previous batch's are applied through a re-run (`delayed`), and those that began earlier go up).
   * Returns the step's values, read from the device once the step is done.
   */
  async step(message: BatchMessage, links: StageLinks): Promise<StepValues> {
    const started = performance.now();
    const { batch, input } = this.receive(message);
    let waited = 0;
    let copying = performance.now() - started;
    const wait = async <T>(promise: Promise<T>): Promise<T> => {
      const waitStarted = performance.now();
      try {
        return await promise;
      } finally {
        waited += performance.now() - waitStarted;
      }
    };
    // The batch and input are made before the count starts, as the sequential bench's batch is.
    const sample = this.startStepMemory(message.index);
    let sending: Promise<void> | undefined;
    let step: TrainingStep | undefined;
    try {
      step = this.trainer.beginStep(batch, { first: this.first, end: this.end, input });
      let reply: readonly BoundaryCotangent[] | undefined;
      for (let next = step.schedule.next(); !next.done; next = step.schedule.next(reply)) {
        reply = undefined;
        const request = next.value;
        if (request.kind === 'output') {
          const copyStarted = performance.now();
          sending = this.sendOutput(message, request.output, links, (ms) => (copying += ms));
          copying += performance.now() - copyStarted;
        } else if (request.kind === 'incoming') {
          reply = this.exchange === 'exact' ? cotangentsFromWire(await wait(links.receive(message.index))) : [];
        } else {
          const copyStarted = performance.now();
          links.sendUpstream(message.index, await cotangentsToWire(request.cotangents));
          copying += performance.now() - copyStarted;
        }
      }
      // Delayed: the previous batch's cotangents, if this session stepped it.
      if (this.exchange === 'delayed' && this.crossing.after && this.previous?.index === message.index - 1) {
        const received = cotangentsFromWire(await wait(links.receive(message.index - 1)));
        step.addDelayedCotangents(this.previous.input, received);
      }
      let result;
      if (this.stateful) {
        // The twins read later modules' weights before this step: those after the previous one.
        if (!this.isLast && this.lastIndex === message.index - 1) await wait(links.laterWeights(message.index - 1));
        this.trainer.runAfterBackward({ first: this.first, end: this.end });
        result = this.trainer.completeStep(step, { afterBackward: false });
      } else result = this.trainer.completeStep(step);
      step = undefined;
      this.lastIndex = message.index;
      if (this.exchange === 'delayed' && this.crossing.after) {
        this.previous?.input.dispose();
        this.previous = { input: (input ?? batch.inputs).clone(), index: message.index };
      }
      if (sending) await wait(sending);
      const values = await result.read();
      this.meters.busyMs += performance.now() - started - waited - copying;
      this.meters.waitingOutputMs += waited;
      this.meters.transferMs += copying;
      this.meters.steps += 1;
      return values;
    } catch (error) {
      step?.abort();
      await sending?.catch(() => {});
      throw error;
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

  /**
   * Sends module `end - 1`'s output (owned, freed here) on with copies of the image and labels (the
   * step still uses them): read off the device, then posted once the next inbox has room.
   */
  private async sendOutput(message: BatchMessage, output: tf.Tensor, links: StageLinks, copied: (ms: number) => void): Promise<void> {
    let activation: Float32Array;
    const shape = output.shape;
    try {
      activation = new Float32Array((await output.data()) as Float32Array);
    } finally {
      output.dispose();
    }
    const copyStarted = performance.now();
    const image = message.image.slice();
    const labels = message.labels.slice();
    const transfer = [activation.buffer as ArrayBuffer, image.buffer as ArrayBuffer, labels.buffer as ArrayBuffer];
    this.meters.bytesSent += activation.byteLength + image.byteLength + labels.byteLength;
    copied(performance.now() - copyStarted);
    await links.send({ ...message, image, labels, activation, activationShape: shape }, transfer);
  }

  /** Copies of the owned variables and their momentum buffers, by checkpoint name. */
  gather(): Promise<{ variables: TensorRecord[]; momentum: TensorRecord[] }> {
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
