import {
  Backbone,
  type ConfigOf,
  definePlugin,
  HeadInput,
  HeadRequest,
  LocalLearningPlugin,
  option,
  type PluginOptions,
  SeededRandom,
} from '@mlaan/core';
import { AuxiliaryNetworkHead } from './auxiliary-head.js';
import { buildAuxiliaryNetwork } from './auxiliary-network.js';
import { AugLocalConfigError } from './errors.js';
import { auxiliaryBlocks, pyramidDepths, selectSubsequentLayers } from './layer-selection.js';

/** AugLocal's options, declared once: each rule is an option's type, default and check. */
const augLocalRules = {
  /**
   * Depth d of the first module's auxiliary network: how many later layers it is built from
   * (the authors' `--aux_net_depth`). Default 2, their ResNet-32 command (ResNet-110: 3).
   */
  depth: option.integer({ min: 1, meaning: 'later layers in the first auxiliary network' }, 2),
  /**
   * τ in [0, 1]: how fast the depth falls towards the top, module K−2 getting d·(1−τ) + τ
   * (the authors' `--pyramid_coeff` under `--pyramid`). Default 0.5, as in all their runs;
   * 0 gives every module depth d.
   */
  pyramidCoefficient: option.finiteNumber({ min: 0, max: 1, meaning: 'how fast the auxiliary depth falls towards the top' }, 0.5),
  /** Seed of the auxiliary networks' initialisation. Default: drawn from the trainer's seeded generator. */
  seed: option.optional(option.integer()),
};

/** AugLocal's options once resolved. */
export type AugLocalConfig = ConfigOf<typeof augLocalRules>;

/** The output shape of layer `position` of the backbone (stem = 0) for its input size. */
function layerOutput(backbone: Backbone, position: number): HeadInput {
  const block = backbone.sequence[position]!;
  return { channels: block.outputChannels, size: Math.ceil(backbone.inputSize / block.outputStride) };
}

/**
 * The layer of the backbone the head's features come out of, which the auxiliary network starts
 * after: the module's last layer, unless a plugin (LAM) puts a network in front of the head; then
 * the deepest later layer whose output has the features' shape (a leap net ends at a later block,
 * usually the last). `HeadInput` carries only the shape, so a leap net that ends before the last
 * block of a stage is placed at that stage's end.
 */
export function featurePosition(request: HeadRequest, backbone: Backbone): number {
  const own = backbone.sequence.indexOf(request.module.last);
  const fits = (position: number) => {
    const output = layerOutput(backbone, position);
    return output.channels === request.input.channels && output.size === request.input.size;
  };
  if (fits(own)) return own;
  for (let position = backbone.sequence.length - 1; position > own; position--) if (fits(position)) return position;
  throw new AugLocalConfigError(
    `augLocal(): the ${request.role} head of module ${request.moduleIndex} receives ${request.input.channels} channels at ` +
      `${request.input.size}x${request.input.size}, which no later layer of ${backbone.id} outputs, so AugLocal cannot tell which ` +
      'layers follow. Put AugLocal in front of networks that end at a backbone layer (as LAM does), or leave those plugins out.',
  );
}

/** Whether any block is a bottleneck (a third conv), whose widths AugLocal's basic blocks do not take. */
function hasBottleneckBlocks(backbone: Backbone): boolean {
  return backbone.blocks.some((b) => b.layer.namedParameters().some(([name]) => name === 'conv3.weight'));
}

/**
 * AugLocal (Ma et al., ICLR 2024) as a local-learning host: every module but the last trains with
 * cross-entropy through its own auxiliary network, made of residual blocks with the widths of a
 * uniform selection of the backbone's later layers (always ending with the last), whose depth falls
 * linearly from `depth` at module 0 towards the top; the last module trains with the backbone's
 * classifier. The authors' partition (every layer a module, the top `depth` + 1 layers one
 * module) is `augLocalCuts`.
 *
 * Heads are made on request for both roles: `'independent'` (the module's own loss) and
 * `'cascade'` (asked for by MLM), each a new auxiliary network with its own variables named
 * `auglocal.<module>.<role>.head.<k>.*`. When LAM puts a leap net in front of a head, the
 * auxiliary network starts where the leap net ends (`featurePosition`).
 */
export const augLocal = definePlugin({ call: 'augLocal()', error: AugLocalConfigError, rules: augLocalRules }, ({ depth, pyramidCoefficient, seed }): LocalLearningPlugin => {
  let random: SeededRandom | undefined;
  const makeRandom = (fallback: SeededRandom) => (seed !== undefined ? new SeededRandom(seed) : fallback.fork());
  return {
    name: 'auglocal',
    host: true,
    setup(context) {
      random = makeRandom(context.random);
      if (hasBottleneckBlocks(context.backbone)) {
        throw new AugLocalConfigError(
          `augLocal(): ${context.backbone.id} is built from bottleneck blocks; AugLocal's auxiliary networks are made of basic residual ` +
            'blocks here (the authors\' CIFAR ResNets and ResNet-34). Use a basic-block ResNet (resnet32, resnet110, resnet34).',
        );
      }
    },
    createHead(request, context) {
      if (request.isLast) return undefined;
      random ??= makeRandom(context.random);
      const { backbone } = context;
      const moduleDepth = pyramidDepths(context.modules.length, depth, pyramidCoefficient)[request.moduleIndex]!;
      const position = featurePosition(request, backbone);
      const layers = selectSubsequentLayers(position, backbone.sequence.length, moduleDepth);
      const widths = backbone.sequence.map((b) => b.outputChannels);
      const blocks = auxiliaryBlocks(request.input.channels, widths, layers);
      const network = buildAuxiliaryNetwork({ inputChannels: request.input.channels, blocks, depth: moduleDepth, classes: context.classes, random });
      return new AuxiliaryNetworkHead(`auglocal.${request.moduleIndex}.${request.role}`, network, request.input, layers);
    },
  };
});

/** What `augLocal()` takes: every option of `AugLocalConfig`, each optional. */
export type AugLocalOptions = PluginOptions<typeof augLocal>;
