import type * as tf from '@tensorflow/tfjs-core';
import type { Fixture } from './fixture.js';

/**
 * Runs what a fixture describes and returns tensors named as in its expected.safetensors
 * (`loss`, `logits`, `grad.<pytorch name>` in PyTorch layout, `after.<name>`, ...).
 */
export interface ParityRunner {
  /** The fixture.json `kind` it handles. */
  kind: string;
  run(fixture: Fixture): Promise<Map<string, tf.Tensor>>;
}

const runners = new Map<string, ParityRunner>();

/** Register a runner for a fixture kind (host and plugin packages contribute theirs). */
export function registerParityRunner(runner: ParityRunner): void {
  runners.set(runner.kind, runner);
}

export function getParityRunner(kind: string): ParityRunner | undefined {
  return runners.get(kind);
}

export function parityKinds(): string[] {
  return [...runners.keys()];
}
