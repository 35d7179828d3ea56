import * as tf from '@tensorflow/tfjs-core';
import { TRAIN } from '../layers/layer.js';
import type { ActivationSchedule } from './activation-memory.js';
import { type Schedule, backwardSchedule, delayedCotangentPass, runSchedule } from './backward-schedules.js';
import type { SgdOptimizer } from './optimizer.js';
import type { Batch } from './plugin.js';
import { type BoundaryCotangent, StepEngine, type StepModel, type StepRange } from './step-engine.js';
import { StepResult } from './step-result.js';
import { GradientCheck, stepVerdict } from './step-verdict.js';
import { KeptTensors } from './kept-tensors.js';
import { VariableJournal } from './variable-journal.js';

/**
 * `simultaneous` (InfoPro/MLAAN): accumulate every local gradient, then one update.
 * `sequential` (original DGL): each module and its heads are updated as soon as their own
 * gradients are final.
 */
export type TrainingMode = 'simultaneous' | 'sequential';

/** What every step of one trainer needs; the trainer works it out once, when it is built. */
export interface StepSetup {
  readonly model: StepModel;
  readonly schedule: ActivationSchedule;
  readonly optimizer: SgdOptimizer;
  readonly mode: TrainingMode;
  /** Per module, the variables it updates in `sequential` mode: its own and its heads' (each listed once). */
  readonly moduleVariables: readonly (readonly tf.Variable[])[];
  /** The module each trainable variable belongs to (its own, or its head's); others belong to none. */
  readonly variableModule: ReadonlyMap<tf.Variable, number>;
  readonly classes: number;
  /** Each term's module (its span's end), for messages. */
  readonly termModules: ReadonlyMap<string, number>;
  readonly finalTerm: string | undefined;
  /** The plugins' `afterBackward` hooks for the current step, for the heads of the modules in `range`. */
  afterBackward(range: { first: number; end: number }): void;
}

/**
 * One training step from its start to its result, all or nothing:
 * - every variable write is journaled (`VariableJournal`) and every tensor it makes is tracked;
 * - the schedule runs its range's forwards and backwards (driven to its end by `runToEnd`, or by
 *   a pipeline stage that answers its boundary requests);
 * - `complete` runs the plugins' state updates, the optimizer, and a verdict computed on the
 *   device (finite losses, gradients and inputs; labels that are class indices) that keeps the
 *   step's writes or undoes them, without reading anything back;
 * - `abort` (a step that threw) restores every variable and frees every tensor the step made.
 */
export class TrainingStep {
  readonly engine: StepEngine;
  readonly schedule: Schedule;
  private readonly journal = new VariableJournal();
  private readonly keptTensors = new KeptTensors();
  private readonly gradientCheck = new GradientCheck();
  private finished = false;

  constructor(
    private readonly setup: StepSetup,
    /** The step's index. */
    readonly step: number,
    readonly batch: Batch,
    range?: StepRange,
    /** False: gradients only, no optimizer update (`computeGradients`). */
    private readonly update = true,
  ) {
    tf.engine().startScope();
    this.journal.begin();
    this.keptTensors.begin();
    const stepsModules = setup.mode === 'sequential' && update;
    this.engine = new StepEngine(setup.model, batch, TRAIN, range, stepsModules ? (m) => this.updateModule(m) : undefined);
    this.schedule = keepHandedOut(backwardSchedule(setup.schedule, this.engine));
  }

  /** Runs the schedule of a range that holds every term through it; returns module `end - 1`'s output when there is one. */
  runToEnd(): tf.Tensor | undefined {
    return runSchedule(this.schedule);
  }

  /** The delayed exchange's second pass: the previous batch's cotangents through this range re-run on its input. */
  addDelayedCotangents(previousInput: tf.Tensor, received: readonly BoundaryCotangent[]): void {
    delayedCotangentPass(this.engine, previousInput, received);
  }

  /** `sequential` mode: module `m`'s gradients (and its heads') are final; update them now. */
  private updateModule(m: number): void {
    const part = this.engine.sink.take(this.setup.moduleVariables[m]!);
    try {
      this.gradientCheck.add(m, part.values());
      this.setup.optimizer.step(part);
    } finally {
      for (const g of part.values()) g.dispose();
    }
  }

  /**
   * After the schedule: the plugins' `afterBackward` (unless `afterBackward: false`: the caller ran
   * it), the optimizer, and the verdict that keeps or undoes the step's writes. Returns the
   * step's result and, for a gradients-only step, its gradients (the caller owns them).
   */
  complete(options: { afterBackward?: boolean } = {}): { result: StepResult; gradients?: Map<tf.Variable, tf.Tensor> } {
    try {
      if (options.afterBackward ?? true) this.setup.afterBackward({ first: this.engine.first, end: this.engine.end });
      const sink = this.engine.sink;
      const groups = new Map<number, tf.Tensor[]>();
      for (const [variable, gradient] of sink.gradients) {
        const group = this.setup.variableModule.get(variable) ?? -1;
        const list = groups.get(group) ?? [];
        list.push(gradient);
        groups.set(group, list);
      }
      for (const [group, gradients] of groups) this.gradientCheck.add(group, gradients);
      let gradients: Map<tf.Variable, tf.Tensor> | undefined;
      if (this.update) this.setup.optimizer.step(sink.gradients);
      else {
        gradients = new Map(sink.gradients);
        sink.gradients.clear();
        for (const g of gradients.values()) tf.keep(g);
      }
      const verdict = stepVerdict(this.engine.losses, this.gradientCheck, this.engine.input, this.batch.labels, this.setup.classes);
      this.journal.commit(verdict.ok);
      verdict.ok.dispose();
      const result = new StepResult(tf.keep(verdict.packed), tf.keep(this.batch.labels.clone()), {
        step: this.step,
        batchSize: this.batch.inputs.shape[0],
        layout: verdict.layout,
        finalTerm: this.setup.finalTerm,
        termModules: this.setup.termModules,
        firstModule: this.engine.first,
        classes: this.setup.classes,
      });
      this.finish();
      return { result, gradients };
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  /** The step failed: every variable it wrote is restored and every tensor it made is freed. */
  abort(): void {
    if (this.finished) return;
    try {
      this.schedule.return();
    } finally {
      this.journal.rollback();
      this.keptTensors.free();
      this.finish();
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.keptTensors.close();
    this.engine.dispose();
    this.gradientCheck.dispose();
    tf.engine().endScope();
  }
}

/** The schedule, with the tensors it hands to its driver kept out of the step's scope. */
function* keepHandedOut(schedule: Schedule): Schedule {
  try {
    let reply: readonly BoundaryCotangent[] | undefined;
    for (let next = schedule.next(); !next.done; next = schedule.next(reply)) {
      const request = next.value;
      if (request.kind === 'output') tf.keep(request.output);
      else if (request.kind === 'upstream') for (const c of request.cotangents) tf.keep(c.value);
      reply = yield request;
    }
  } finally {
    schedule.return();
  }
}
