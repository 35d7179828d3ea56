import * as tf from '@tensorflow/tfjs-core';
import type { NamedVariable } from '../layers/layer.js';
import { headKey } from '../training/plugin-host.js';
import type { LocalTrainer } from '../training/trainer.js';
import type { BatchMessage, StageMeters, TensorRecord } from './messages.js';
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
    peakBytes: 0,
  };
  /** Owned variables by their checkpoint names. */
  private readonly owned: Map<string, tf.Variable>;

  private constructor(
    readonly trainer: LocalTrainer,
    readonly first: number,
    readonly end: number,
  ) {
    this.owned = new Map(variablesOfRange(trainer, first, end));
    const ownedVariables = new Set(this.owned.values());
    for (const [, v] of [...trainer.namedParameters(), ...trainer.namedBuffers()]) if (!ownedVariables.has(v)) v.dispose();
    this.recordMemory();
  }

  static async create(recipe: TrainerRecipe, first: number, end: number): Promise<PipelineStage> {
    const trainer = await buildRecipeTrainer(recipe);
    return new PipelineStage(trainer, first, end);
  }

  get isLast(): boolean {
    return this.end === this.trainer.modules.length;
  }

  private recordMemory(): void {
    const memory = tf.memory();
    this.meters.numTensors = memory.numTensors;
    this.meters.numBytes = memory.numBytes;
    this.meters.peakBytes = Math.max(this.meters.peakBytes, memory.numBytes);
  }

  /**
   * Steps the owned modules on one batch. Returns their losses and, except on the last stage, the
   * message for the next stage with the buffers to transfer (this stage keeps no reference).
   */
  step(message: BatchMessage): { losses: Record<string, number>; loss: number; batchSize: number; next?: BatchMessage; transfer: ArrayBuffer[] } {
    const started = performance.now();
    const inputs = tf.tensor4d(message.image, message.imageShape);
    const labels = tf.tensor1d(message.labels, 'int32');
    const input = message.activation ? tf.tensor(message.activation, message.activationShape) : undefined;
    const built = performance.now();
    this.trainer.stepCount = message.index;
    this.trainer.epoch = message.epoch;
    this.trainer.learningRate = message.learningRate;
    let result;
    try {
      result = this.trainer.stepModules({ inputs, labels, normalization: message.normalization }, { first: this.first, end: this.end, input });
    } finally {
      inputs.dispose();
      labels.dispose();
      input?.dispose();
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
      // The image's tensor is gone, so its buffer can move on to the next stage.
      const image = transferable(message.image);
      const labelsOut = transferable(message.labels);
      next = { ...message, image, labels: labelsOut, activation, activationShape };
      transfer.push(activation.buffer as ArrayBuffer, image.buffer as ArrayBuffer, labelsOut.buffer as ArrayBuffer);
      this.meters.bytesSent += activation.byteLength + image.byteLength + labelsOut.byteLength;
    }
    const done = performance.now();
    this.meters.busyMs += stepped - built;
    this.meters.transferMs += built - started + (done - stepped);
    this.meters.steps += 1;
    this.recordMemory();
    return { losses, loss, batchSize, next, transfer };
  }

  /** Copies of the owned variables and their momentum buffers, by checkpoint name. */
  gather(): { variables: TensorRecord[]; momentum: TensorRecord[] } {
    return variableRecords(this.owned, this.trainer.optimizer);
  }

  /** Assigns the owned variables (and momentum buffers) found in the records; others are ignored. */
  scatter(variables: readonly TensorRecord[], momentum: readonly TensorRecord[]): void {
    assignRecords(this.owned, this.trainer.optimizer, variables, momentum);
    this.recordMemory();
  }
}
