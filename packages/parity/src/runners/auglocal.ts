import * as tf from '@tensorflow/tfjs-core';
import { CutPoint, HeadRoles, importPyTorchWeights, LocalTrainer, TRAIN } from '@mlaan/core';
import { augLocal, AuxiliaryNetworkHead, auxiliaryBlocks, pyramidDepths, selectSubsequentLayers } from '@mlaan/auglocal';
import { createNetwork } from '@mlaan/models';
import { Fixture, FixtureError, fixtureBatch, toPyTorchLayout } from '../fixture.js';
import type { ParityRunner } from '../runner.js';

/** One auxiliary network as the authors' constructor built it (fixture.json). */
interface AuthorsAuxiliary {
  cut?: [number, number];
  depth: number;
  /** [output channels, stride] of each residual block. */
  blocks: [number, number][];
  batch_norm: boolean;
}

interface AuthorsArchitecture {
  net: string;
  modules: number;
  depth: number;
  coefficient: number;
  auxiliary?: AuthorsAuxiliary[];
  error?: string;
}

/**
 * This library's AugLocal rule for one configuration of the authors' grid (`modules` one-layer
 * local modules but the last): each module's depth, its network's blocks and its BatchNorm1d.
 */
function ourArchitecture(widths: readonly number[], modules: number, depth: number, coefficient: number): AuthorsAuxiliary[] {
  const depths = pyramidDepths(modules, depth, coefficient);
  return depths.map((moduleDepth, position) => ({
    depth: moduleDepth,
    blocks: auxiliaryBlocks(widths[position]!, widths, selectSubsequentLayers(position, widths.length, moduleDepth)).map(
      (b) => [b.outputChannels, b.stride] as [number, number],
    ),
    batch_norm: moduleDepth <= 1,
  }));
}

/** Every configuration of the fixture's grid where our rule builds another network than theirs. */
function architectureMismatches(fixture: Fixture): string[] {
  const grid = (fixture.config.authors_architectures ?? []) as AuthorsArchitecture[];
  const problems: string[] = [];
  const widthsByNet = new Map<string, number[]>();
  for (const entry of grid) {
    if (entry.error || !entry.auxiliary) continue;
    let widths = widthsByNet.get(entry.net);
    if (!widths) {
      const backbone = createNetwork(entry.net);
      widths = backbone.sequence.map((b) => b.outputChannels);
      backbone.dispose();
      widthsByNet.set(entry.net, widths);
    }
    const ours = ourArchitecture(widths, entry.modules, entry.depth, entry.coefficient);
    const theirs = entry.auxiliary.map(({ depth, blocks, batch_norm }) => ({ depth, blocks, batch_norm }));
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      problems.push(`${entry.net}, ${entry.modules} modules, depth ${entry.depth}, coefficient ${entry.coefficient}: ours ${JSON.stringify(ours)}, theirs ${JSON.stringify(theirs)}`);
    }
  }
  return problems;
}

/**
 * AugLocal, one step without the optimizer (fixture kind `auglocal`, written by
 * `python/make_auglocal_fixture.py` from github ChenxiangMA/AugLocal): the fixture's cut points,
 * `augLocal({ depth, pyramidCoefficient })`, every local loss back-propagated by
 * `LocalTrainer.computeGradients`. Before the step it checks that this library builds the same
 * auxiliary networks as the authors' constructor for every configuration the fixture recorded.
 * Returns `logits`, `loss`, the `grad.*` the fixture holds (local modules, auxiliary networks, fc)
 * and `after.*` (every running statistic after the step).
 */
export const augLocalRunner: ParityRunner = {
  kind: 'auglocal',
  async run(fixture: Fixture) {
    const { config } = fixture;
    const depth = config.depth as number | undefined;
    const pyramidCoefficient = config.pyramid_coefficient as number | undefined;
    if (!config.cut_points || depth === undefined || pyramidCoefficient === undefined) {
      throw new FixtureError(`${fixture.dir}/fixture.json needs 'cut_points', 'depth' and 'pyramid_coefficient' for an auglocal fixture.`);
    }
    const mismatches = architectureMismatches(fixture);
    if (mismatches.length > 0) {
      throw new FixtureError(`${fixture.dir}: the auxiliary networks differ from the authors' in ${mismatches.length} configuration(s), first: ${mismatches[0]}`);
    }
    const classes = fixture.expected.get('logits')?.shape[1] ?? 10;
    const backbone = createNetwork(config.net, { classes });
    const trainer = new LocalTrainer({ backbone, cuts: config.cut_points as CutPoint[], plugins: [augLocal({ depth, pyramidCoefficient })] });
    const batch = fixtureBatch(fixture);
    try {
      if (config.K !== undefined && trainer.modules.length !== config.K) {
        throw new FixtureError(`fixture K=${config.K} but its cut points give ${trainer.modules.length} modules.`);
      }
      for (const [i, theirs] of ((config.auxiliary ?? []) as AuthorsAuxiliary[]).entries()) {
        const head = trainer.head(i, HeadRoles.independent);
        if (!(head instanceof AuxiliaryNetworkHead)) throw new FixtureError(`module ${i} has no AugLocal head here`);
        if (theirs.blocks.length !== head.layers.length) {
          throw new FixtureError(`module ${i}: the fixture's auxiliary network has ${theirs.blocks.length} blocks, ours ${head.layers.length}.`);
        }
      }
      importPyTorchWeights([...trainer.namedParameters(), ...trainer.namedBuffers()], fixture.weights);
      const out = new Map<string, tf.Tensor>();
      out.set('logits', backbone.apply(batch.inputs, { ...TRAIN, updateStatistics: false }));
      const { gradients, result } = trainer.computeGradients(batch);
      out.set('loss', tf.tensor1d([(await result.read()).loss]));
      for (const [name, gradient] of gradients) {
        // The fixture leaves out the last module's blocks (plain back-propagation): compare what it holds.
        if (fixture.expected.has(`grad.${name}`)) out.set(`grad.${name}`, toPyTorchLayout(gradient));
        gradient.dispose();
      }
      for (const [name, variable] of trainer.namedBuffers()) {
        if (fixture.expected.has(`after.${name}`)) out.set(`after.${name}`, variable.clone());
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
