import * as tf from '@tensorflow/tfjs-core';
import { UnknownSplitError } from '../errors.js';
import { Activation, ForwardContext, NamedVariable, prefixed } from '../layers/layer.js';
import { chainForward } from '../layers/sequential.js';
import type { Backbone, BackboneBlock } from './backbone.js';

/** `[stage, block]`: a module ends after this block; stage 0 is the stem. */
export type CutPoint = readonly [stage: number, block: number];

/**
 * A gradient-isolated piece of the backbone: consecutive blocks trained by their own loss.
 * The classifier is not part of any module; the last module's loss uses it.
 */
export class LocalModule {
  constructor(
    readonly index: number,
    readonly blocks: readonly BackboneBlock[],
  ) {}

  get first(): BackboneBlock {
    return this.blocks[0]!;
  }

  get last(): BackboneBlock {
    return this.blocks[this.blocks.length - 1]!;
  }

  get inputChannels(): number {
    return this.first.inputChannels;
  }

  get outputChannels(): number {
    return this.last.outputChannels;
  }

  /** Spatial size of the output for a square input of `inputSize`. */
  outputSize(inputSize: number): number {
    return Math.ceil(inputSize / this.last.outputStride);
  }

  namedParameters(): NamedVariable[] {
    return this.blocks.flatMap((b) => prefixed(b.name, b.layer.namedParameters()));
  }

  namedBuffers(): NamedVariable[] {
    return this.blocks.flatMap((b) => prefixed(b.name, b.layer.namedBuffers()));
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  apply(x: tf.Tensor, context: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const b of this.blocks) h = b.layer.apply(h, context);
      return h;
    });
  }

  /** Traced forward; the backward's parameter gradients are keyed by full variable names. */
  forward(x: tf.Tensor, context: ForwardContext): Activation {
    return chainForward(
      this.blocks.map((b) => [b.name, b.layer] as const),
      x,
      context,
    );
  }
}

function describeCut(cut: CutPoint): string {
  return `[${cut[0]}, ${cut[1]}]`;
}

/**
 * Split a backbone after each cut point into K = cuts.length + 1 local modules. A trailing cut at
 * the final block (as in the MLAAN code's lists) is accepted and ignored. Cuts must name existing
 * blocks in increasing order.
 */
export function partition(backbone: Backbone, cuts: readonly CutPoint[]): LocalModule[] {
  const sequence = backbone.sequence;
  const positions: number[] = [];
  for (const cut of cuts) {
    const block = backbone.findBlock(cut[0], cut[1]);
    if (!block) {
      const depths = backbone.stageDepths.map((d, i) => `stage ${i + 1}: blocks 0-${d - 1}`).join(', ');
      throw new UnknownSplitError(
        `Cut point ${describeCut(cut)} does not exist in ${backbone.id} (stage 0 is the stem [0, 0]; ${depths}).`,
      );
    }
    positions.push(sequence.indexOf(block));
  }
  if (positions.length > 0 && positions[positions.length - 1] === sequence.length - 1) positions.pop();
  for (let i = 1; i < positions.length; i++) {
    if (positions[i]! <= positions[i - 1]!) {
      throw new UnknownSplitError(
        `Cut points must be in increasing order without repeats; got ${cuts.map(describeCut).join(' ')}.`,
      );
    }
  }
  const modules: LocalModule[] = [];
  let start = 0;
  for (const end of [...positions, sequence.length - 1]) {
    modules.push(new LocalModule(modules.length, sequence.slice(start, end + 1)));
    start = end + 1;
  }
  return modules;
}
