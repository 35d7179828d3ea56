import * as tf from '@tensorflow/tfjs-core';

/**
 * The tensors a training step keeps (`tf.keep`) while it runs: the traced layers' saved inputs,
 * tfjs's tape clones, heads' losses, outputs handed to a pipeline. A step that completes frees or
 * hands over each of them; one that throws half-way (a head that refuses a batch of 1 after the
 * backbone's forward ran) would leave them behind, as no scope frees a kept tensor. Recorders nest
 * as steps do: only the innermost open one records.
 */
// On globalThis, as tfjs's engine is one per process: two copies of this module must share the
// one hook and its stack.
interface KeptRecorder {
  kept: tf.Tensor[];
}
const stackKey = Symbol.for('mlaan.keptTensors.stack');
const globalHolder = globalThis as unknown as Record<symbol, KeptRecorder[] | undefined>;
const recorders: KeptRecorder[] = (globalHolder[stackKey] ??= []);
const installedKey = Symbol.for('mlaan.keptTensors.installed');

type Engine = ReturnType<typeof tf.engine>;

function installKeepHook(): void {
  const engine = tf.engine() as Engine & { [installedKey]?: boolean };
  if (engine[installedKey]) return;
  const keep = engine.keep;
  engine.keep = function <T extends tf.Tensor>(this: Engine, result: T): T {
    recorders[recorders.length - 1]?.kept.push(result);
    return keep.call(this, result) as T;
  };
  Object.defineProperty(engine, installedKey, { value: true });
}

export class KeptTensors implements KeptRecorder {
  readonly kept: tf.Tensor[] = [];
  private open = false;

  begin(): this {
    installKeepHook();
    recorders.push(this);
    this.open = true;
    return this;
  }

  /** Stops recording; the kept tensors stay their holders'. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    const index = recorders.lastIndexOf(this);
    if (index >= 0) recorders.splice(index, 1);
    this.kept.length = 0;
  }

  /** Stops recording and frees every tensor kept since `begin` that is still alive (a step that threw). */
  free(): void {
    const kept = [...this.kept];
    this.close();
    for (const tensor of kept) if (!tensor.isDisposed) tensor.dispose();
  }
}
