import * as tf from '@tensorflow/tfjs-core';
import { ForwardContext, Layer, NamedVariable, prefixed } from '../layers/layer.js';

/**
 * One block of a backbone. Stage 0 is the stem; stages 1.. are the residual stages, so a cut
 * point `[stage, index]` names "after this block" exactly as in METHOD §2.
 */
export interface BackboneBlock {
  stage: number;
  index: number;
  /** Variable-name prefix, PyTorch style (`layer2.0`); empty for the stem. */
  name: string;
  layer: Layer;
  inputChannels: number;
  outputChannels: number;
  /** Total downsampling from the network input to this block's output (1, 2, 4, ...). */
  outputStride: number;
}

export interface BackboneOptions {
  /** Identifier used by split tables and leap rules (`resnet32`, `resnet110`, `resnet34`, ...). */
  id: string;
  stem: BackboneBlock;
  blocks: BackboneBlock[];
  /** Global pooling + linear classifier; variable names as in PyTorch (`fc.weight`). */
  classifier: Layer;
  classes: number;
  /** Input image size (square) the network is built for. */
  inputSize: number;
  inputChannels?: number;
}

/** A stem, ordered residual blocks with stage metadata, and a classifier. */
export class Backbone {
  readonly id: string;
  readonly stem: BackboneBlock;
  readonly blocks: readonly BackboneBlock[];
  readonly classifier: Layer;
  readonly classes: number;
  readonly inputSize: number;
  readonly inputChannels: number;

  constructor(options: BackboneOptions) {
    this.id = options.id;
    this.stem = options.stem;
    this.blocks = options.blocks;
    this.classifier = options.classifier;
    this.classes = options.classes;
    this.inputSize = options.inputSize;
    this.inputChannels = options.inputChannels ?? 3;
  }

  /** Stem first, then every block in order. */
  get sequence(): readonly BackboneBlock[] {
    return [this.stem, ...this.blocks];
  }

  /** Number of blocks in each residual stage (index 0 = stage 1). */
  get stageDepths(): number[] {
    const depths: number[] = [];
    for (const b of this.blocks) depths[b.stage - 1] = Math.max(depths[b.stage - 1] ?? 0, b.index + 1);
    return depths;
  }

  findBlock(stage: number, index: number): BackboneBlock | undefined {
    if (stage === 0) return index === 0 ? this.stem : undefined;
    return this.blocks.find((b) => b.stage === stage && b.index === index);
  }

  namedParameters(): NamedVariable[] {
    return [
      ...this.sequence.flatMap((b) => prefixed(b.name, b.layer.namedParameters())),
      ...this.classifier.namedParameters(),
    ];
  }

  namedBuffers(): NamedVariable[] {
    return [
      ...this.sequence.flatMap((b) => prefixed(b.name, b.layer.namedBuffers())),
      ...this.classifier.namedBuffers(),
    ];
  }

  namedVariables(): NamedVariable[] {
    return [...this.namedParameters(), ...this.namedBuffers()];
  }

  /** Features before the classifier. */
  features(x: tf.Tensor, context: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const b of this.sequence) h = b.layer.apply(h, context);
      return h;
    });
  }

  /** Logits. */
  apply(x: tf.Tensor, context: ForwardContext): tf.Tensor {
    return tf.tidy(() => this.classifier.apply(this.features(x, context), context));
  }

  dispose(): void {
    for (const [, v] of this.namedVariables()) v.dispose();
  }
}
