import * as tf from '@tensorflow/tfjs-core';

/** How a forward pass runs: training mode uses batch statistics and (optionally) updates running ones. */
export interface ForwardContext {
  training: boolean;
  /** Training-mode batch norm updates running statistics unless this is false (recomputation). */
  updateStatistics?: boolean;
}

export const TRAIN: ForwardContext = Object.freeze({ training: true });
export const EVAL: ForwardContext = Object.freeze({ training: false });

/** What a backward pass should produce. */
export interface BackwardRequest {
  /** Gradient with respect to the layer input. */
  input: boolean;
  /** Gradients with respect to the layer's trainable parameters. */
  parameters: boolean;
}

export interface BackwardResult {
  input?: tf.Tensor;
  /**
   * Keyed by the parameter's name relative to the layer (as in `namedParameters`). A plain object
   * (not a Map) so that tf.tidy keeps the tensors it holds.
   */
  parameters?: Record<string, tf.Tensor>;
}

/**
 * The saved state of one traced forward pass. `backward` may be called on it several times with
 * different output gradients (MLM's cascaded losses reuse one forward); `dispose` frees it.
 * A consumer may dispose `output` as soon as it has used it: an activation whose backward needs
 * its own output (ReLU's mask) keeps a separate reference, so that memory that no backward needs
 * is freed during the forward.
 */
export interface Activation {
  readonly output: tf.Tensor;
  backward(outputGradient: tf.Tensor, request: BackwardRequest): BackwardResult;
  dispose(): void;
}

// Kept on globalThis because tfjs's variable registry is global too: two copies of this module
// (bundled twice, or re-evaluated by a test runner) must never hand out the same name.
const counterKey = Symbol.for('mlaan.variableCounter');
const counterHolder = globalThis as unknown as Record<symbol, number>;

/**
 * tfjs variable names live in one global registry; logical (PyTorch-style) names are kept by the
 * layer, and the registered name gets a unique suffix so that many models can coexist.
 */
export function createVariable(logicalName: string, value: tf.Tensor, trainable: boolean): tf.Variable {
  counterHolder[counterKey] = (counterHolder[counterKey] ?? 0) + 1;
  return tf.variable(value, trainable, `${logicalName}#${counterHolder[counterKey]}`);
}

/**
 * `createVariable` for a tensor made only to initialise the variable. A tfjs variable shares its
 * initial tensor's buffer, and that tensor's handle would otherwise stay alive after the layer's
 * `dispose()` (one leaked handle per parameter of every model built).
 */
export function createVariableFromInitialValue(logicalName: string, initialValue: tf.Tensor, trainable: boolean): tf.Variable {
  const variable = createVariable(logicalName, initialValue, trainable);
  initialValue.dispose();
  return variable;
}

export type NamedVariable = readonly [name: string, variable: tf.Variable];

/**
 * A layer owns named variables (trainable parameters and non-trainable buffers such as running
 * statistics), runs a forward pass under tfjs autograd (`apply`), and can also run a traced
 * forward whose backward is explicit (`forward`), which the trainer uses to reuse one forward for
 * several losses.
 */
export abstract class Layer {
  /** Trainable parameters in a stable order, with names relative to this layer. */
  abstract namedParameters(): NamedVariable[];

  /** Non-trainable state (running statistics, EMA weights) in a stable order. */
  namedBuffers(): NamedVariable[] {
    return [];
  }

  /** Forward pass recorded by tfjs autograd. */
  abstract apply(x: tf.Tensor, context: ForwardContext): tf.Tensor;

  /** A deep copy: new variables holding the same values, same hyper-parameters. */
  abstract clone(): Layer;

  /**
   * Traced forward with an explicit backward. The default keeps the input and recomputes the
   * forward under tfjs autograd on each backward call; layers on the hot path override it.
   */
  forward(x: tf.Tensor, context: ForwardContext): Activation {
    const output = tf.tidy(() => this.apply(x, context));
    const input = tf.keep(x.clone());
    const replay: ForwardContext = { ...context, updateStatistics: false };
    const layer = this;
    return {
      output,
      backward(outputGradient, request) {
        return recomputeBackward(layer, input, replay, outputGradient, request);
      },
      dispose() {
        input.dispose();
        output.dispose();
      },
    };
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  buffers(): tf.Variable[] {
    return this.namedBuffers().map(([, v]) => v);
  }

  /** Every variable, parameters first, then buffers. */
  namedVariables(): NamedVariable[] {
    return [...this.namedParameters(), ...this.namedBuffers()];
  }

  dispose(): void {
    for (const [, v] of this.namedVariables()) v.dispose();
  }
}

/** Backward by replaying the forward under tfjs autograd; correct for any layer, not the fastest. */
export function recomputeBackward(
  layer: Layer,
  input: tf.Tensor,
  context: ForwardContext,
  outputGradient: tf.Tensor,
  request: BackwardRequest,
): BackwardResult {
  const named = request.parameters ? layer.namedParameters() : [];
  const xs: tf.Tensor[] = [];
  if (request.input) xs.push(input);
  for (const [, v] of named) xs.push(v);
  if (xs.length === 0) return {};
  const { grads } = tf.engine().gradients(
    () => tf.sum(tf.mul(layer.apply(input, context), outputGradient)) as tf.Scalar,
    xs,
    undefined,
    true,
  );
  const result: BackwardResult = {};
  let k = 0;
  if (request.input) result.input = grads[k++] ?? tf.zerosLike(input);
  if (request.parameters) {
    result.parameters = {};
    for (const [name, v] of named) result.parameters[name] = grads[k++] ?? tf.zerosLike(v);
  }
  return result;
}

/** Prefix the names of a child's variables with `prefix.`. */
export function prefixed(prefix: string, vars: NamedVariable[]): NamedVariable[] {
  return vars.map(([n, v]) => [prefix ? `${prefix}.${n}` : n, v] as const);
}
