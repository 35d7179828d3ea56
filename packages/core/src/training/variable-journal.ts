import * as tf from '@tensorflow/tfjs-core';
import { selectPairsByFlag } from '../ops/select-by-flag.js';
import type { ReferenceCountingBackend } from '../kernels/host-memory.js';

/**
 * Every write a training step makes to a variable goes through `Variable.assign` (the optimizer's
 * update and momentum, batch norm's running statistics, plugins' state such as LAM's EMA twins):
 * tfjs replaces the variable's buffer, it never writes into it. So the value a variable had before
 * the step is kept alive by one more reference to its old buffer, taken at its first write, at the
 * cost of a reference count, not a copy. Kernels must keep it that way: none may write into a
 * variable's buffer in place.
 */
// Kept on globalThis, as tfjs's Variable class is one per process: two copies of this module
// (bundled twice, or re-evaluated by a test runner) must share the one hook and its stack.
interface JournalRecorder {
  record(variable: tf.Variable): void;
}
const stackKey = Symbol.for('mlaan.variableJournal.stack');
const globalHolder = globalThis as unknown as Record<symbol, JournalRecorder[] | undefined>;
const journals: JournalRecorder[] = (globalHolder[stackKey] ??= []);
const installedKey = Symbol.for('mlaan.variableJournal.installed');

function installAssignHook(): void {
  const prototype = tf.Variable.prototype as tf.Variable & { [installedKey]?: boolean };
  if (prototype[installedKey]) return;
  const assign = prototype.assign;
  prototype.assign = function (this: tf.Variable, newValue: tf.Tensor): void {
    journals[journals.length - 1]?.record(this);
    assign.call(this, newValue);
  };
  Object.defineProperty(prototype, installedKey, { value: true });
}

/**
 * A second handle on a variable's current buffer: what `tf.clone` gives on a backend whose
 * Identity shares (cpu, onednn, core's Identity on wasm), without a kernel's dispatch (a step
 * journals ~270 variables).
 */
function sharedHandle(variable: tf.Variable): tf.Tensor {
  const engine = tf.engine();
  (engine.backend as unknown as ReferenceCountingBackend).incRef(variable.dataId);
  return engine.makeTensorFromTensorInfo({ dataId: variable.dataId, shape: variable.shape, dtype: variable.dtype });
}

/**
 * The values variables had before a step, for the variables the step writes: `commit` keeps the
 * step's writes where a flag on the device says so and restores the old values where it does not
 * (decided on the device, without reading the flag), `rollback` restores them all (a step that
 * threw). Journals nest: only the innermost open one records.
 */
export class VariableJournal {
  private readonly before = new Map<tf.Variable, tf.Tensor>();
  private open = false;

  /** Starts recording writes. */
  begin(): this {
    installAssignHook();
    journals.push(this);
    this.open = true;
    return this;
  }

  /** Called by the hook before `variable` is first written in this journal. */
  record(variable: tf.Variable): void {
    if (this.before.has(variable) || variable.isDisposed) return;
    this.before.set(variable, tf.keep(sharedHandle(variable)));
  }

  /** The variables written since `begin`. */
  get written(): readonly tf.Variable[] {
    return [...this.before.keys()];
  }

  /**
   * Keeps every write where `keep` (a bool scalar) is true, restores the values before the step
   * where it is false; stops recording.
   */
  commit(keep: tf.Tensor): void {
    this.close();
    const written = [...this.before].filter(([variable]) => !variable.isDisposed);
    const chosen = selectPairsByFlag(keep, written);
    written.forEach(([variable], i) => variable.assign(chosen[i]!));
    tf.dispose(chosen);
    for (const old of this.before.values()) old.dispose();
    this.before.clear();
  }

  /** Restores every variable written since `begin`; stops recording. */
  rollback(): void {
    this.close();
    for (const [variable, old] of this.before) {
      if (!variable.isDisposed) variable.assign(old);
      old.dispose();
    }
    this.before.clear();
  }

  private close(): void {
    if (!this.open) return;
    this.open = false;
    const index = journals.lastIndexOf(this);
    if (index >= 0) journals.splice(index, 1);
  }
}
