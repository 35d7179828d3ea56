import * as tf from '@tensorflow/tfjs-core';
import { ReLU, reluBackward, reluWithTies, tracedRelu } from './activation.js';
import { BatchNorm, type ReluFusedActivation } from './batch-norm.js';
import { Activation, BackwardRequest, BackwardResult, ForwardContext, Layer, NamedVariable, prefixed } from './layer.js';

export type NamedLayer = readonly [name: string, layer: Layer];

/**
 * Layers applied in order. Each entry's name prefixes its variables (`conv1.weight`); an empty
 * name adds no prefix, so PyTorch's flat and nested naming can both be reproduced.
 */
export class Sequential extends Layer {
  readonly entries: readonly NamedLayer[];

  constructor(entries: readonly (NamedLayer | Layer)[]) {
    super();
    this.entries = entries.map((e, i) => (e instanceof Layer ? ([String(i), e] as const) : e));
  }

  get layers(): Layer[] {
    return this.entries.map(([, l]) => l);
  }

  namedParameters(): NamedVariable[] {
    return this.entries.flatMap(([name, layer]) => prefixed(name, layer.namedParameters()));
  }

  override namedBuffers(): NamedVariable[] {
    return this.entries.flatMap(([name, layer]) => prefixed(name, layer.namedBuffers()));
  }

  apply(x: tf.Tensor, context: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const [, layer] of this.entries) h = layer.apply(h, context);
      return h === x ? x.clone() : h;
    });
  }

  override forward(x: tf.Tensor, context: ForwardContext): Activation {
    return chainForward(this.entries, x, context);
  }

  clone(): Sequential {
    return new Sequential(this.entries.map(([n, l]) => [n, l.clone()] as const));
  }
}

/** Whether entries[index] is a batch norm followed by a ReLU that can run as one kernel. */
function fusesWithNextRelu(entries: readonly NamedLayer[], index: number, context: ForwardContext): boolean {
  const layer = entries[index]![1];
  return layer instanceof BatchNorm && entries[index + 1]?.[1] instanceof ReLU && layer.canFuseRelu(context);
}

/**
 * Traced forward through named layers; the backward walks the saved activations in reverse. A
 * batch norm followed by a ReLU runs as one fused activation where the backend has the kernel
 * (one pass instead of three forward, the ReLU's mask applied inside the batch norm's backward).
 */
export function chainForward(entries: readonly NamedLayer[], x: tf.Tensor, context: ForwardContext): Activation {
  // Each traced step: the entry whose name prefixes its parameters, and its activation.
  const steps: { entry: NamedLayer; activation: Activation }[] = [];
  let h = x;
  try {
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index]!;
      let a: Activation;
      if (fusesWithNextRelu(entries, index, context)) {
        a = (entry[1] as BatchNorm).forwardWithRelu(h, context);
        index += 1;
      } else {
        a = entry[1].forward(h, context);
      }
      // The previous output has been consumed: a layer that needs its input for the backward
      // holds its own reference (clone), so dropping this handle frees the data exactly when no
      // backward needs it (a conv's output before batch norm, batch norm's output before ReLU).
      if (steps.length > 0) h.dispose();
      steps.push({ entry, activation: a });
      h = a.output;
    }
  } catch (error) {
    for (const { activation } of steps) activation.dispose();
    throw error;
  }
  const output = steps.length === 0 ? x.clone() : h;
  return {
    output,
    backward(outputGradient: tf.Tensor, request: BackwardRequest): BackwardResult {
      const parameters: Record<string, tf.Tensor> = {};
      let dy = outputGradient;
      for (let i = steps.length - 1; i >= 0; i--) {
        const [name, layer] = steps[i]!.entry;
        const wantParameters = request.parameters && layer.namedParameters().length > 0;
        const wantInput = i > 0 || request.input;
        if (!wantParameters && !wantInput) break;
        const r = steps[i]!.activation.backward(dy, { input: wantInput, parameters: wantParameters });
        if (dy !== outputGradient) dy.dispose();
        if (r.parameters) {
          for (const [k, g] of Object.entries(r.parameters)) parameters[name ? `${name}.${k}` : k] = g;
        }
        if (!wantInput) break;
        dy = r.input!;
      }
      const result: BackwardResult = {};
      if (request.parameters) result.parameters = parameters;
      if (request.input) result.input = dy === outputGradient ? dy.clone() : dy;
      return result;
    },
    dispose() {
      for (const { activation } of steps) activation.dispose();
      if (steps.length === 0) output.dispose();
    },
  };
}

/**
 * The end of a block's backward: the shortcut's parameter gradients (under `prefix.`) into
 * `result`, and when the input gradient is requested, `mainInput` plus the shortcut's input
 * gradient (plus `dsum` itself for the identity) as `result.input`. Consumes `dsum` (the gradient
 * of the block's sum) and `mainInput`.
 */
function addShortcutGradient(
  skip: Activation | undefined,
  prefix: string,
  dsum: tf.Tensor,
  mainInput: tf.Tensor | undefined,
  request: BackwardRequest,
  result: BackwardResult,
): BackwardResult {
  let shortcutInput: tf.Tensor | undefined;
  if (skip) {
    const s = skip.backward(dsum, request);
    if (s.parameters && result.parameters) {
      for (const [k, g] of Object.entries(s.parameters)) result.parameters[`${prefix}.${k}`] = g;
    }
    shortcutInput = s.input;
  }
  if (request.input) {
    result.input = tf.add(mainInput!, shortcutInput ?? dsum);
    mainInput!.dispose();
    shortcutInput?.dispose();
  }
  dsum.dispose();
  return result;
}

export interface ResidualOptions {
  main: readonly NamedLayer[];
  /** Projection on the skip path (1x1 conv + BN); identity when absent. */
  shortcut?: readonly NamedLayer[];
  /** Name prefix of the shortcut's variables (PyTorch: `downsample`). */
  shortcutName?: string;
}

/** out = relu(main(x) + shortcut(x)): the ResNet BasicBlock / Bottleneck skeleton. */
export class Residual extends Layer {
  readonly main: readonly NamedLayer[];
  readonly shortcut?: readonly NamedLayer[];
  readonly shortcutName: string;

  constructor(options: ResidualOptions) {
    super();
    this.main = options.main;
    this.shortcut = options.shortcut && options.shortcut.length > 0 ? options.shortcut : undefined;
    this.shortcutName = options.shortcutName ?? 'downsample';
  }

  namedParameters(): NamedVariable[] {
    const main = this.main.flatMap(([n, l]) => prefixed(n, l.namedParameters()));
    const skip = (this.shortcut ?? []).flatMap(([n, l]) => prefixed(`${this.shortcutName}.${n}`, l.namedParameters()));
    return [...main, ...skip];
  }

  override namedBuffers(): NamedVariable[] {
    const main = this.main.flatMap(([n, l]) => prefixed(n, l.namedBuffers()));
    const skip = (this.shortcut ?? []).flatMap(([n, l]) => prefixed(`${this.shortcutName}.${n}`, l.namedBuffers()));
    return [...main, ...skip];
  }

  apply(x: tf.Tensor, context: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const [, l] of this.main) h = l.apply(h, context);
      let s = x;
      for (const [, l] of this.shortcut ?? []) s = l.apply(s, context);
      return reluWithTies(tf.add(h, s));
    });
  }

  override forward(x: tf.Tensor, context: ForwardContext): Activation {
    const last = this.main[this.main.length - 1]?.[1];
    if (last instanceof BatchNorm && last.canFuseRelu(context)) return this.fusedForward(x, context, last);
    const main = chainForward(this.main, x, context);
    let skip: Activation | undefined;
    try {
      skip = this.shortcut ? chainForward(this.shortcut, x, context) : undefined;
    } catch (error) {
      main.dispose();
      throw error;
    }
    const { output, mask } = tf.tidy(() => tracedRelu(tf.add(main.output, skip ? skip.output : x)));
    // The branches' outputs were only needed for the sum (their backwards keep what they need).
    main.output.dispose();
    skip?.output.dispose();
    // Consumers may dispose `output`; the backward masks with this reference.
    const saved = output.clone();
    const shortcutPrefix = this.shortcutName;
    return {
      output,
      backward(dy: tf.Tensor, request: BackwardRequest): BackwardResult {
        const dsum = reluBackward(dy, saved, mask);
        const m = main.backward(dsum, request);
        const result: BackwardResult = {};
        if (request.parameters) result.parameters = { ...m.parameters };
        return addShortcutGradient(skip, shortcutPrefix, dsum, m.input, request, result);
      },
      dispose() {
        main.dispose();
        skip?.dispose();
        output.dispose();
        saved.dispose();
        mask?.dispose();
      },
    };
  }

  /**
   * The block with its closing batch norm, shortcut sum and ReLU as one fused kernel (forward and
   * backward): the main path up to that batch norm, the shortcut, then
   * `relu(batchNorm(h) + shortcut)` in one pass; its backward returns the gradient of the sum,
   * which the shortcut takes.
   */
  private fusedForward(x: tf.Tensor, context: ForwardContext, closingNorm: BatchNorm): Activation {
    const normName = this.main[this.main.length - 1]![0];
    const head = chainForward(this.main.slice(0, -1), x, context);
    let skip: Activation | undefined;
    let closing: ReluFusedActivation;
    try {
      skip = this.shortcut ? chainForward(this.shortcut, x, context) : undefined;
      closing = closingNorm.forwardWithRelu(head.output, context, skip ? skip.output : x);
    } catch (error) {
      head.dispose();
      skip?.dispose();
      throw error;
    }
    // Inputs of the fused kernel: its backward keeps what it needs.
    head.output.dispose();
    skip?.output.dispose();
    const shortcutPrefix = this.shortcutName;
    return {
      output: closing.output,
      backward(dy: tf.Tensor, request: BackwardRequest): BackwardResult {
        const c = closing.backward(dy, { input: true, parameters: request.parameters, residual: true });
        const dsum = c.residual!;
        const m = head.backward(c.input!, request);
        c.input!.dispose();
        const result: BackwardResult = {};
        if (request.parameters) {
          result.parameters = { ...m.parameters };
          for (const [k, g] of Object.entries(c.parameters ?? {})) result.parameters[`${normName}.${k}`] = g;
        }
        return addShortcutGradient(skip, shortcutPrefix, dsum, m.input, request, result);
      },
      dispose() {
        head.dispose();
        skip?.dispose();
        closing.dispose();
      },
    };
  }

  clone(): Residual {
    return new Residual({
      main: this.main.map(([n, l]) => [n, l.clone()] as const),
      shortcut: this.shortcut?.map(([n, l]) => [n, l.clone()] as const),
      shortcutName: this.shortcutName,
    });
  }
}
