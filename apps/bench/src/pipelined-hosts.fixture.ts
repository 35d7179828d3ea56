// A pipeline recipe for the host equivalence tests: the tiny test backbone in 4 modules with
// DGL's or InfoPro's local losses.
import type { TrainerOptions, TrainingMode } from '@mlaan/core';
import { tinyBackbone } from '@mlaan/core/testing';
import { dgl } from '@mlaan/dgl';
import { infoPro } from '@mlaan/infopro';
import { lam, mlm, withMLAAN } from '@mlaan/mlaan';

export interface HostRecipeOptions {
  host: 'dgl' | 'infopro';
  mode?: TrainingMode;
  /** MLM's cascades (their cotangents cross the worker boundaries), LAM's leap nets (their twins read later modules' weights), or both. */
  plugins?: 'mlm' | 'lam' | 'mlaan';
  /** The trainer's schedule with plugins (default `keep`); `sweep` is what the bench's MLAAN runs use. */
  activations?: 'keep' | 'sweep';
}

const PLUGINS = { mlm: () => [mlm()], lam: () => [lam()], mlaan: () => withMLAAN() };

export default function hostRecipe({ host, mode, plugins, activations }: HostRecipeOptions): TrainerOptions {
  return {
    // InfoPro's default aux head takes the CIFAR widths (16, 32, 64).
    backbone: tinyBackbone({ seed: 3, width: host === 'infopro' ? 16 : 4 }),
    cuts: [
      [0, 0],
      [1, 0],
      [1, 1],
    ],
    plugins: [host === 'dgl' ? dgl({ head: 'mlp-sr' }) : infoPro({ lambda: [2, 0.5, 1, 1.5] }), ...(plugins ? PLUGINS[plugins]() : [])],
    mode: mode ?? 'simultaneous',
    activations: plugins ? (activations ?? 'keep') : undefined,
    optimizer: { learningRate: 0.05 },
    seed: 11,
  };
}
