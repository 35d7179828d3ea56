import { Backbone, CutPoint } from '@mlaan/core';
import { AugLocalConfigError } from './errors.js';

/**
 * The authors' partition for AugLocal at K with auxiliary depth d: each of the first K − d − 1
 * layers (the stem is layer 0, then every block) is a module of its own, and the remaining layers
 * form the last module with the classifier. Their `train.py` builds `K − d` modules
 * (`local_module_num - aux_net_depth`): the top layers, whose auxiliary network would be the rest
 * of the network itself, train with the final loss. ResNet-32 at the paper's K = 16 with d = 2:
 * 13 one-layer modules, then layers 13–15 (blocks (3,2)–(3,4)).
 */
export function augLocalCuts(backbone: Backbone, { K, depth }: { K: number; depth: number }): CutPoint[] {
  const layers = backbone.sequence;
  if (!Number.isInteger(K) || !Number.isInteger(depth) || depth < 1) {
    throw new AugLocalConfigError(`augLocalCuts(): K and depth must be integers, depth >= 1; got K = ${K}, depth = ${depth}.`);
  }
  const modules = K - depth;
  if (modules < 2 || modules > layers.length) {
    throw new AugLocalConfigError(
      `augLocalCuts(): K − depth = ${K} − ${depth} = ${modules} modules, but ${backbone.id} (${layers.length} layers) takes 2 to ${layers.length}. ` +
        `Use K between ${depth + 2} and ${layers.length + depth}.`,
    );
  }
  return layers.slice(0, modules - 1).map((b) => [b.stage, b.index] as const);
}
