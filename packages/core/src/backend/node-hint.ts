import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs's cpu backend (and every backend built on it, such as onednn) prints "Hi, looks like you
 * are running TensorFlow.js in Node.js ... install our node backend" through `backend_util.warn`
 * on its first tensor write when `IS_NODE` is set. Once a backend has been chosen on purpose that
 * hint is noise (`selectBackend` logs what it chose and why tfjs-node was skipped), so this marks
 * the hint as given on the named (default: active) backend and on the cpu backend, where they are
 * initialised. It touches only the backends' one-shot `firstUse` flag, not the `PROD`/`IS_TEST`
 * flags that gate every other tfjs warning, and initialises no backend (a second initialisation
 * of an async one, such as wasm, would run its factory twice).
 */
export function silenceNodeBackendHint(backendName: string | undefined = tf.engine().backendName ?? undefined): void {
  const initialised = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  for (const name of new Set([backendName, 'cpu'])) {
    const holder = name === undefined ? undefined : (initialised[name] as { firstUse?: unknown } | undefined);
    if (holder && typeof holder.firstUse === 'boolean') holder.firstUse = false;
  }
}
