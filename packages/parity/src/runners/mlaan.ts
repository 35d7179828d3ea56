import * as tf from '@tensorflow/tfjs-core';
import { CutPoint, importPyTorchWeights, LocalLearningPlugin, LocalTrainer, TRAIN } from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { withMLAAN } from '@mlaan/mlaan';
import { createNetwork } from '@mlaan/models';
import { Fixture, FixtureError, fixtureBatch, toPyTorchLayout } from '../fixture.js';
import type { ParityRunner } from '../runner.js';

export interface MlaanReferenceRunnerOptions {
  /**
   * The host whose heads serve both roles (default: DGL's GAP + Linear head, as the fixture's
   * `AuxClassifier`). Its head variables must be named `<headPrefix>.<module>.<role>.<inner>`.
   */
  host?: () => LocalLearningPlugin;
  headPrefix?: string;
}

/**
 * `resnetMLAAN.py` for one step (fixture kind `mlaan-reference`): the backbone split at the
 * fixture's cut points, DGL 'linear' heads, `withMLAAN({ profile: 'reference' })`. The fixture's
 * weights are imported by name (`independent_head.<i>.fc.*`, `cascade_head.<i>.fc.*`,
 * `lam.<i>.blocks.<j>.*`, `lam.<i>.ema.*`); the run returns the final cascaded loss, the logits
 * fc(cascade output), every accumulated gradient and the last LAM's twin after its EMA update.
 */
export function createMlaanReferenceRunner(options: MlaanReferenceRunnerOptions = {}): ParityRunner {
  const host = options.host ?? (() => dgl({ head: 'linear' }));
  const headPrefix = options.headPrefix ?? 'dgl';
  const headName = new RegExp(`^${headPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.(independent|cascade)\\.`);
  const toFixtureName = (name: string) => name.replace(headName, (_, module: string, role: string) => `${role}_head.${module}.`);
  return {
    kind: 'mlaan-reference',
    async run(fixture: Fixture) {
      const config = fixture.config;
      const cuts = (config.cut_points ?? []) as CutPoint[];
      if (config.K !== undefined && cuts.length !== config.K && cuts.length !== config.K - 1) {
        throw new FixtureError(`${fixture.dir}: K = ${config.K} but ${cuts.length} cut points.`);
      }
      const fc = fixture.weights.get('fc.weight');
      const backbone = createNetwork(config.net, { classes: fc ? fc.shape[0]! : 10 });
      const [mlmPlugin, lamPlugin] = withMLAAN({
        profile: 'reference',
        cascadeWindow: config.cascade_window,
        wx: config.wx,
        wy: config.wy,
        emaDecay: config.ema_decay,
      });
      // The tie decisions are indexed by ReLU evaluation in program order, which recomputing the
      // cascade windows would change (each module's ReLUs would run twice): keep the activations.
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [host(), mlmPlugin, lamPlugin], activations: 'keep' });
      const batch = fixtureBatch(fixture);
      try {
        for (const [module, list] of Object.entries(config.leap_blocks ?? {})) {
          const ours = lamPlugin.leapLists.get(Number(module));
          if (JSON.stringify(ours) !== JSON.stringify(list)) {
            throw new FixtureError(
              `${fixture.dir}: module ${module}'s leap list is ${JSON.stringify(list)} in the fixture but ${JSON.stringify(ours)} here.`,
            );
          }
        }
        importPyTorchWeights([...trainer.namedParameters(), ...trainer.namedBuffers()], fixture.weights, {
          rename: toFixtureName,
        });
        const out = new Map<string, tf.Tensor>();
        out.set('logits', backbone.apply(batch.inputs, { ...TRAIN, updateStatistics: false }));
        const { gradients, result } = trainer.computeGradients(batch, { runAfterBackward: true });
        out.set('loss', tf.tensor1d([(await result.read()).loss]));
        for (const [name, g] of gradients) {
          out.set(`grad.${toFixtureName(name)}`, toPyTorchLayout(g));
          g.dispose();
        }
        // The reference updates only the last LAM's twin, and only its parameters.
        const last = lamPlugin.networks.get(Math.max(...lamPlugin.networks.keys()));
        if (last) {
          for (const [name, v] of last.twin.namedParameters()) out.set(`after.${last.prefix}.ema.${name}`, toPyTorchLayout(v));
        }
        return out;
      } finally {
        trainer.dispose();
        backbone.dispose();
        batch.inputs.dispose();
        batch.labels.dispose();
      }
    },
  };
}

export const mlaanReferenceRunner: ParityRunner = createMlaanReferenceRunner();
