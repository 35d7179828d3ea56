import * as tf from '@tensorflow/tfjs-core';
import { MlaanError, NonFiniteError, ShapeError } from '../errors.js';
import { labelProblem } from './batch-checks.js';
import type { VerdictLayout } from './step-verdict.js';

/** A step's values, once read from the device. */
export interface StepValues {
  /** The step's index (the trainer's `stepCount` when it ran). */
  step: number;
  batchSize: number;
  /**
   * Unweighted value of every loss term, by term name. A term whose weight is 0 (InfoPro's λ = 0
   * at a module, for example) is still computed and reported, but gives no gradient.
   */
  losses: Record<string, number>;
  /** The last module's loss (its widest-span term): the E2E-comparable training loss; NaN when the step did not run it. */
  loss: number;
}

/** What a step needs to say about itself once read. */
export interface StepDescription {
  step: number;
  batchSize: number;
  layout: VerdictLayout;
  finalTerm: string | undefined;
  /** Module of each term (its span's end), for messages. */
  termModules: ReadonlyMap<string, number>;
  /** The first module of the range: its input is the batch's only when this is 0. */
  firstModule: number;
  classes: number;
}

/**
 * One training step's outcome, on the device until read: the step has been queued (on a GPU it
 * may still be running), and nothing waits for it until `read()`. Read it, or dispose it: it holds
 * one small tensor (and a reference to the batch's labels) until then. `readSteps` reads many in
 * one transfer.
 *
 * When the step met a NaN or an Infinity (inputs, a loss, a gradient) or a label that is not a
 * class index, it was skipped on the device (every weight, momentum buffer and running statistic
 * is as before it) and `read()` rejects with a `NonFiniteError` or a `ShapeError` naming the step,
 * the module and the loss term.
 */
export class StepResult {
  private packed: tf.Tensor1D | undefined;
  private labels: tf.Tensor | undefined;
  private reading: Promise<StepValues> | undefined;

  constructor(
    packed: tf.Tensor1D,
    labels: tf.Tensor,
    readonly description: StepDescription,
  ) {
    this.packed = packed;
    this.labels = labels;
  }

  get step(): number {
    return this.description.step;
  }

  get batchSize(): number {
    return this.description.batchSize;
  }

  /** The packed values, for `readSteps`; undefined once read or disposed. */
  get pending(): tf.Tensor1D | undefined {
    return this.packed;
  }

  /** Reads the step's values (one transfer), frees its tensors, and rejects if the step was skipped. */
  read(): Promise<StepValues> {
    if (!this.reading) {
      const packed = this.packed;
      this.reading = packed
        ? packed.data().then((values) => this.decode(values as Float32Array))
        : Promise.reject(new MlaanError(`Step ${this.step}'s result was disposed before it was read; read it first (await result.read()).`));
    }
    return this.reading;
  }

  /** Takes values read elsewhere (`readSteps`); `read()` then gives what they decode to. */
  settle(values: Float32Array): Promise<StepValues> {
    this.reading ??= this.decode(values);
    return this.reading;
  }

  /** Frees the step's tensors and decodes its values (rejecting if the step was skipped). */
  private async decode(values: Float32Array): Promise<StepValues> {
    const labels = this.labels;
    this.packed?.dispose();
    this.packed = undefined;
    this.labels = undefined;
    try {
      return await decodeStep(values, this.description, labels);
    } finally {
      labels?.dispose();
    }
  }

  /** Frees the step's tensors without reading them. */
  dispose(): void {
    this.packed?.dispose();
    this.labels?.dispose();
    this.packed = undefined;
    this.labels = undefined;
  }
}

/**
 * Reads many steps' values in one transfer from the device (the bench reads every few steps and at
 * each epoch's end): one concatenation, one read. Every result is settled (and freed); the first
 * skipped step's error is thrown after all are decoded.
 */
export async function readSteps(results: readonly StepResult[]): Promise<StepValues[]> {
  const unread = results.filter((r) => r.pending);
  let flat: Float32Array | undefined;
  if (unread.length > 0) {
    const joined = unread.length === 1 ? unread[0]!.pending!.clone() : tf.concat(unread.map((r) => r.pending!));
    try {
      flat = (await joined.data()) as Float32Array;
    } finally {
      joined.dispose();
    }
  }
  let offset = 0;
  const settled = await Promise.allSettled(
    results.map((r) => {
      if (!r.pending) return r.read();
      const size = r.pending.size;
      const values = flat!.subarray(offset, offset + size);
      offset += size;
      return r.settle(values);
    }),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<StepValues>).value);
}

async function decodeStep(values: Float32Array, d: StepDescription, labels: tf.Tensor | undefined): Promise<StepValues> {
  const { terms, gradientGroups } = d.layout;
  const losses: Record<string, number> = {};
  terms.forEach((name, i) => (losses[name] = values[i]!));
  const gradientSums = values.subarray(terms.length, terms.length + gradientGroups.length);
  const inputSum = values[terms.length + gradientGroups.length]!;
  const badLabels = values[terms.length + gradientGroups.length + 1]!;
  const skipped = `Step ${d.step} was skipped: every weight, momentum buffer and running statistic is as it was before it.`;
  if (badLabels > 0) {
    const problem = labels ? labelProblem((await labels.data()) as ArrayLike<number>, labels.dtype, d.classes) : undefined;
    const message = problem?.message ?? `Batch has ${badLabels} labels that are not class indices in [0, ${d.classes}).`;
    throw new ShapeError(`${message} ${skipped}`);
  }
  if (!Number.isFinite(inputSum)) {
    const where = d.firstModule === 0 ? "the batch's inputs hold" : `module ${d.firstModule}'s input (the previous stage's output) holds`;
    throw new NonFiniteError(
      d.step,
      'inputs',
      `Step ${d.step}: ${where} NaN or Infinity values. ${skipped} ` +
        'Find the bad images with tf.isFinite, or fix the data pipeline (a division by zero in normalisation, an unreadable file).',
    );
  }
  const term = terms.find((name) => !Number.isFinite(losses[name]));
  if (term !== undefined) {
    const module = d.termModules.get(term);
    throw new NonFiniteError(
      d.step,
      'loss',
      `Step ${d.step}: loss term '${term}' (module ${module}) is ${losses[term]}. ${skipped} ` +
        'The run is diverging: lower the learning rate (optimizer.learningRate) or add warm-up, and resume from the last checkpoint.',
      term,
      module,
    );
  }
  const group = gradientGroups.findIndex((_, i) => !Number.isFinite(gradientSums[i]!));
  if (group >= 0) {
    const module = gradientGroups[group]!;
    const whose = module >= 0 ? `module ${module} and its heads` : "the plugins' own variables";
    throw new NonFiniteError(
      d.step,
      'gradients',
      `Step ${d.step}: the gradients of ${whose} are not finite although every loss is. ${skipped} ` +
        'A backward overflowed: lower the learning rate (optimizer.learningRate), and resume from the last checkpoint.',
      undefined,
      module >= 0 ? module : undefined,
    );
  }
  const loss = d.finalTerm === undefined ? undefined : losses[d.finalTerm];
  return { step: d.step, batchSize: d.batchSize, losses, loss: loss ?? NaN };
}
