/**
 * Every error the library throws on bad input is an `MlaanError` subclass whose message names the
 * problem and the fix, so callers can `instanceof`-check without parsing strings.
 */
export class MlaanError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A backend was asked for by name but its package is not installed or failed to load. */
export class BackendNotAvailableError extends MlaanError {}

/** A (network, K) pair has no split table entry, or a cut point does not exist. */
export class UnknownSplitError extends MlaanError {}

/** A tensor or option has the wrong shape, rank or value. */
export class ShapeError extends MlaanError {}

/** A configuration option is out of range, unknown or inconsistent. */
export class ConfigError extends MlaanError {}

/** A checkpoint is missing, corrupt, or does not match the model it is loaded into. */
export class CheckpointError extends MlaanError {}

/** A safetensors file is malformed or its tensors do not match the target variables. */
export class SafetensorsError extends MlaanError {}

/** A model cannot be written in the asked-for format (a layer the format has no equivalent for). */
export class ExportError extends MlaanError {}

/**
 * A checkpoint folder cannot be read back (unparsable manifest, missing or modified tensors file,
 * another format version). `dir` and `problem` let a caller word the fix for its own interface.
 */
export class CorruptCheckpointError extends CheckpointError {
  constructor(
    readonly dir: string,
    readonly problem: string,
  ) {
    super(`Checkpoint ${dir}: ${problem}. Delete the whole folder ${dir} (not one file in it) to start over.`);
  }
}

/**
 * A pipeline worker threw, exited or was terminated. The pipelined run stopped and every worker was
 * terminated; `worker` and `modules` say which stage failed, `cause` carries the worker's error.
 */
export class PipelineWorkerError extends MlaanError {
  constructor(
    readonly worker: number,
    readonly modules: readonly [first: number, end: number],
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(
      `Pipeline worker ${worker} (modules ${modules[0]}..${modules[1] - 1}) failed: ${problem}. Every worker was stopped; ` +
        'fix the cause and resume from the last checkpoint (loadCheckpoint), or train with workers: 1 to see the error in the main thread.',
      options,
    );
  }
}

/**
 * A training step met a NaN or an Infinity (in its inputs, a loss or a gradient) and was skipped:
 * every weight, momentum buffer and running statistic is as it was before it. `step` is the step's
 * index; `term` and `module` name the first loss term (and its module) or the first module whose
 * gradients were not finite, where that is what failed.
 */
export class NonFiniteError extends MlaanError {
  constructor(
    readonly step: number,
    readonly problem: 'inputs' | 'loss' | 'gradients',
    message: string,
    readonly term?: string,
    readonly module?: number,
  ) {
    super(message);
  }
}
