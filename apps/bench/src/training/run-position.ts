/** Where a run stands: 0-based epoch, batches of that epoch done, steps done in all. */
export interface RunPosition {
  epoch: number;
  batch: number;
  step: number;
}

/**
 * A run that diverged: the step whose loss, gradients or inputs were not finite (skipped by the
 * trainer, so nothing changed), why, and the last checkpoint saved before it, which the run keeps.
 */
export interface Divergence {
  /** The skipped step (its batch is `batch`, 1-based, of `epoch`). */
  at: RunPosition;
  /** What was not finite, in the CLI's words (the trainer's NonFiniteError speaks the API's). */
  cause: string;
  /** The last checkpoint saved before the divergence (kept on disk); undefined when none was. */
  checkpoint?: RunPosition & { folder: string };
}
