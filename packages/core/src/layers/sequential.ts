import * as tf from '@tensorflow/tfjs-core';
import { reluBackward, reluWithTies, tracedRelu } from './activation.js';
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

/** Traced forward through named layers; the backward walks the saved activations in reverse. */
export function chainForward(entries: readonly NamedLayer[], x: tf.Tensor, context: ForwardContext): Activation {
  const activations: Activation[] = [];
  let h = x;
  try {
    for (const [, layer] of entries) {
      const a = layer.forward(h, context);
      // The previous output has been consumed: a layer that needs its input for the backward
      // holds its own reference (clone), so dropping this handle frees the data exactly when no
      // backward needs it (a conv's output before batch norm, batch norm's output before ReLU).
      if (activations.length > 0) h.dispose();
      activations.push(a);
      h = a.output;
    }
  } catch (error) {
    for (const a of activations) a.dispose();
    throw error;
  }
  const output = activations.length === 0 ? x.clone() : h;
  return {
    output,
    backward(outputGradient: tf.Tensor, request: BackwardRequest): BackwardResult {
      const parameters: Record<string, tf.Tensor> = {};
      let dy = outputGradient;
      for (let i = activations.length - 1; i >= 0; i--) {
        const [name, layer] = entries[i]!;
        const wantParameters = request.parameters && layer.namedParameters().length > 0;
        const wantInput = i > 0 || request.input;
        if (!wantParameters && !wantInput) break;
        const r = activations[i]!.backward(dy, { input: wantInput, parameters: wantParameters });
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
      for (const a of activations) a.dispose();
      if (activations.length === 0) output.dispose();
    },
  };
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
        let dx: tf.Tensor | undefined = m.input;
        if (skip) {
          const s = skip.backward(dsum, request);
          if (s.parameters && result.parameters) {
            for (const [k, g] of Object.entries(s.parameters)) result.parameters[`${shortcutPrefix}.${k}`] = g;
          }
          if (request.input) {
            const sum = tf.add(dx!, s.input!);
            dx!.dispose();
            s.input!.dispose();
            dx = sum;
          }
        } else if (request.input) {
          const sum = tf.add(dx!, dsum);
          dx!.dispose();
          dx = sum;
        }
        dsum.dispose();
        if (request.input) result.input = dx;
        return result;
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

  clone(): Residual {
    return new Residual({
      main: this.main.map(([n, l]) => [n, l.clone()] as const),
      shortcut: this.shortcut?.map(([n, l]) => [n, l.clone()] as const),
      shortcutName: this.shortcutName,
    });
  }
}
