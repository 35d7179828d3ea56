// A recipe for the pipeline's tests: the tiny test backbone cut into 4 modules with the linear
// test host, on the cpu backend; options inject a slow or failing head into one module.
import type { Head, LocalLearningPlugin } from '../training/plugin.js';
import type { TrainerOptions, TrainingMode } from '../training/trainer.js';
import { linearHeadHost, tinyBackbone } from '../testing/index.js';

export interface TinyRecipeOptions {
  mode?: TrainingMode;
  /** Module whose head busy-waits this many milliseconds per step. */
  slow?: { module: number; milliseconds: number };
  /** Module whose head throws on its n-th step (counting from 1). */
  failing?: { module: number; step: number };
  /** Extra cascade terms over these module spans (the trainer then holds activations: 'keep'). */
  cascades?: [number, number][];
}

export const TINY_CUTS = [
  [0, 0],
  [1, 0],
  [1, 1],
] as const;

function injected(options: TinyRecipeOptions): LocalLearningPlugin {
  return {
    name: 'injected',
    enforce: 'post',
    wrapHead(head, request): Head {
      const slow = options.slow?.module === request.moduleIndex ? options.slow.milliseconds : 0;
      const failAt = options.failing?.module === request.moduleIndex ? options.failing.step : 0;
      if (!slow && !failAt) return head;
      let calls = 0;
      return {
        ...head,
        namedParameters: () => head.namedParameters(),
        loss(features, batch, context) {
          calls += 1;
          if (calls === failAt) throw new Error(`injected failure in module ${request.moduleIndex} at its step ${calls}`);
          const until = performance.now() + slow;
          while (performance.now() < until);
          return head.loss(features, batch, context);
        },
      };
    },
  };
}

export default function tinyRecipe(options: TinyRecipeOptions = {}): TrainerOptions {
  return {
    backbone: tinyBackbone({ seed: 3 }),
    cuts: TINY_CUTS,
    plugins: [
      linearHeadHost({
        seed: 5,
        terms: (terms) => [
          ...terms,
          ...(options.cascades ?? []).map(([first, last]) => ({ name: `window${first}-${last}`, span: [first, last] as const, role: 'cascade' as const, weight: 0.5 })),
        ],
      }),
      injected(options),
    ],
    mode: options.mode ?? 'simultaneous',
    // The order in which a pipeline stage sums cascade cotangents is the 'keep' schedule's.
    activations: options.cascades ? 'keep' : undefined,
    optimizer: { learningRate: 0.05 },
    seed: 11,
  };
}
