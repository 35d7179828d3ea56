import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Backbone,
  ConfigError,
  Conv2d,
  CutPoint,
  Head,
  headLossAndGradients,
  HeadRole,
  HeadRoles,
  LocalLearningPlugin,
  LocalTrainer,
  LossTerm,
  MlaanError,
  perBlockCuts,
  Residual,
  Sequential,
} from '@mlaan/core';
import { LeapHead } from '@mlaan/lam';
import { mlm, withMLAAN } from '@mlaan/mlaan';
import { resnet110, resnet32 } from '@mlaan/models';
import {
  disposeBatch,
  nonZeroGradients,
  randomImageBatch,
  smallResNet,
  tensorsLeftBySteps,
  termGradientReach,
  tinyResNet,
  useTestBackend,
} from '@mlaan/test-support';
import {
  augLocal,
  AugLocalConfigError,
  augLocalCuts,
  AuxiliaryNetworkHead,
  featurePosition,
  pyramidDepths,
  selectSubsequentLayers,
} from './index.js';

beforeAll(async () => {
  await useTestBackend();
});

/** Long synchronous stretches starve vitest's worker RPC; give it a turn between them. */
const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

const auxiliaryHead = (trainer: LocalTrainer, moduleIndex: number, role: HeadRole): AuxiliaryNetworkHead => {
  const head = trainer.head(moduleIndex, role);
  const inner = head instanceof LeapHead ? head.inner : head;
  if (!(inner instanceof AuxiliaryNetworkHead)) throw new Error(`${moduleIndex}:${role} is not an AugLocal head`);
  return inner;
};

/** Each residual block's [input channels, output channels, stride], read from its first conv. */
function blockShapes(head: AuxiliaryNetworkHead): [number, number, number][] {
  const network = (head.network as Sequential).layers[0] as Sequential;
  return network.layers
    .filter((layer): layer is Residual => layer instanceof Residual)
    .map((block) => {
      const conv = block.main[0]![1] as Conv2d;
      return [conv.inChannels, conv.outChannels, conv.stride];
    });
}

const onlyTerm = (name: string): LocalLearningPlugin => ({ name: 'only', enforce: 'post', terms: (ts: LossTerm[]) => ts.filter((t) => t.name === name) });

describe('options', () => {
  it('rejects unknown options and out-of-range values with AugLocalConfigError, naming the fix', () => {
    expect(() => augLocal({ depth: 0 })).toThrow(/augLocal\(\): depth must be an integer >= 1/);
    expect(() => augLocal({ depth: 1.5 })).toThrow(AugLocalConfigError);
    expect(() => augLocal({ pyramidCoefficient: 1.5 })).toThrow(/pyramidCoefficient must be in \[0, 1\]/);
    expect(() => augLocal({ pyramid: true } as never)).toThrow(/unknown option\(s\) 'pyramid'\. Known options: depth, pyramidCoefficient, seed/);
    const error = (() => {
      try {
        augLocal({ depth: -1 });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(MlaanError);
    expect(augLocal.options.names).toEqual(['depth', 'pyramidCoefficient', 'seed']);
  });
});

describe("the authors' partition (augLocalCuts)", () => {
  it('ResNet-32 at K = 16, d = 2: 13 one-layer modules, then layers 13-15 with the classifier', () => {
    const backbone = resnet32();
    const cuts = augLocalCuts(backbone, { K: 16, depth: 2 });
    expect(cuts).toEqual([[0, 0], [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [3, 0], [3, 1]]);
    const trainer = new LocalTrainer({ backbone, cuts, plugins: [augLocal()] });
    expect(trainer.modules.length).toBe(14);
    expect(trainer.modules[13]!.blocks.map((b) => b.name)).toEqual(['layer3.2', 'layer3.3', 'layer3.4']);
    trainer.dispose();
    expect(() => augLocalCuts(backbone, { K: 3, depth: 2 })).toThrow(/K − depth = 3 − 2 = 1 modules.*Use K between 4 and 18/);
    backbone.dispose();
  });
});

describe('auxiliary networks: the paper rule, module by module', () => {
  it('ResNet-32, K = 16, d = 3, τ = 0.5: depths fall towards the top, blocks take the selected layers\' widths', () => {
    const backbone = resnet32();
    const trainer = new LocalTrainer({ backbone, cuts: augLocalCuts(backbone, { K: 16, depth: 3 }), plugins: [augLocal({ depth: 3 })] });
    const K = trainer.modules.length;
    expect(K).toBe(13);
    const widths = backbone.sequence.map((b) => b.outputChannels);
    // d_i = round(3(1 - i/22) + i/22): 3 for i <= 5, 2.5 -> 2 at i = 11, ...
    const depths = pyramidDepths(K, 3, 0.5);
    expect(depths).toEqual([3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2]);
    for (let i = 0; i < K - 1; i++) {
      const head = auxiliaryHead(trainer, i, HeadRoles.independent);
      // Module i is layer i: its network is made of round(i + (15 - i)/d_i · j), j = 1..d_i.
      expect(head.layers, `module ${i}`).toEqual(selectSubsequentLayers(i, 16, depths[i]!));
      expect(head.layers[head.layers.length - 1]).toBe(15);
      const shapes = blockShapes(head);
      expect(shapes.map(([, output]) => output), `module ${i}`).toEqual(head.layers.map((l) => widths[l]));
      expect(shapes[0]![0]).toBe(widths[i]);
      const names = head.namedParameters().map(([n]) => n);
      expect(names.every((n) => n.startsWith(`auglocal.${i}.independent.head.`))).toBe(true);
      // GAP + Linear(→ 10) at index blocks + 2 (no BatchNorm1d above depth 1).
      const linear = head.namedParameters().find(([n]) => n === `auglocal.${i}.independent.head.${shapes.length + 2}.weight`);
      expect(linear?.[1].shape, `module ${i}`).toEqual([64, 10]);
    }
    // Module 0 (the stem, 16 channels at 32x32): layers 5, 10, 15 -> 16->16, 16->32 /2, 32->64 /2.
    expect(blockShapes(auxiliaryHead(trainer, 0, HeadRoles.independent))).toEqual([[16, 16, 1], [16, 32, 2], [32, 64, 2]]);
    // Module 6 (layer2.0, 32 channels): depth 2, layers 10 and 15 (6 + 4.5 = 10.5 rounds to 10).
    expect(auxiliaryHead(trainer, 6, HeadRoles.independent).layers).toEqual([10, 15]);
    expect(blockShapes(auxiliaryHead(trainer, 6, HeadRoles.independent))).toEqual([[32, 32, 1], [32, 64, 2]]);
    // The last module trains with the backbone's classifier.
    expect(trainer.head(K - 1, HeadRoles.independent)!.name).toBe('classifier');
    trainer.dispose();
    backbone.dispose();
  });

  it('a depth-1 network has a BatchNorm1d before its Linear, and a 16 -> 64 jump halves the map once', () => {
    const backbone = resnet32();
    const trainer = new LocalTrainer({ backbone, cuts: [[0, 0], [1, 0]], plugins: [augLocal({ depth: 1 })] });
    const head = auxiliaryHead(trainer, 0, HeadRoles.independent);
    expect(head.layers).toEqual([15]);
    expect(blockShapes(head)).toEqual([[16, 64, 2]]);
    expect(head.namedParameters().map(([n, v]) => `${n.slice('auglocal.0.independent.'.length)} ${v.shape}`).slice(-4)).toEqual([
      'head.3.weight 64',
      'head.3.bias 64',
      'head.4.weight 64,10',
      'head.4.bias 10',
    ]);
    trainer.dispose();
    backbone.dispose();
  });

  it('ResNet-110 at the authors\' K = 55, d = 3: 51 networks of 3 then 2 blocks, each ending with the last layer', async () => {
    const backbone = resnet110();
    const trainer = new LocalTrainer({ backbone, cuts: augLocalCuts(backbone, { K: 55, depth: 3 }), plugins: [augLocal({ depth: 3 })] });
    await yieldToVitest();
    expect(trainer.modules.length).toBe(52);
    const counts = Array.from({ length: 51 }, (_, i) => auxiliaryHead(trainer, i, HeadRoles.independent).layers.length);
    expect(counts).toEqual(pyramidDepths(52, 3, 0.5));
    expect(counts[0]).toBe(3);
    expect(counts[50]).toBe(2);
    trainer.dispose();
    backbone.dispose();
  });

  it('refuses a bottleneck backbone, whose widths basic blocks do not take', () => {
    const backbone = smallResNet(1);
    const block = backbone.blocks[0]!;
    const bottleneckLike = new Sequential([['conv3', new Conv2d({ inChannels: 16, outChannels: 16, kernelSize: 1 })]]);
    const patched = new Backbone({ id: 'bottleneck-test', stem: backbone.stem, blocks: [{ ...block, layer: bottleneckLike }, ...backbone.blocks.slice(1)], classifier: backbone.classifier, classes: 10, inputSize: 32 });
    expect(() => new LocalTrainer({ backbone: patched, cuts: [[1, 0]], plugins: [augLocal()] })).toThrow(/bottleneck blocks/);
    bottleneckLike.dispose();
    backbone.dispose();
  });
});

describe('training', () => {
  const CUTS: readonly CutPoint[] = [[1, 0], [2, 0]];

  it('the explicit backward gives the loss and gradients of autograd through the same network', () => {
    const backbone = tinyResNet({ inputSize: 16 });
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [augLocal({ seed: 3 })] });
    const head = auxiliaryHead(trainer, 0, HeadRoles.independent);
    const batch = randomImageBatch(4, 2, 10, 16);
    const features = tf.tidy(() => trainer.modules[0]!.apply(batch.inputs, { training: true, updateStatistics: false }));
    const context = { training: true, updateStatistics: false };
    const variables = head.namedParameters().map(([, v]) => v);
    const explicit = head.lossAndGradients(features, batch, context, 0.7);
    // The same network seen as a head without its own backward: tfjs autograd end to end.
    const autogradView: Head = { name: head.name, namedParameters: () => head.namedParameters(), loss: (f, b, c) => head.loss(f, b, c) };
    const autograd = headLossAndGradients(autogradView, features, batch, context, 0.7, variables);
    expect(explicit.loss.dataSync()[0]).toBeCloseTo(autograd.loss.dataSync()[0]!, 6);
    const close = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]!));
    expect(close(explicit.featureGradient, autograd.featureGradient)).toBeLessThan(1e-5);
    expect([...explicit.parameterGradients.keys()].length).toBe(variables.length);
    for (const v of variables) expect(close(explicit.parameterGradients.get(v)!, autograd.parameterGradients.get(v)!), v.name).toBeLessThan(1e-5);
    for (const r of [explicit, autograd]) tf.dispose([r.loss, r.featureGradient, ...r.parameterGradients.values()]);
    features.dispose();
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it("a module's local loss reaches only that module and its auxiliary network", async () => {
    for (const index of [0, 1, 2]) {
      await yieldToVitest();
      const backbone = tinyResNet({ seed: index, inputSize: 16 });
      const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [augLocal(), onlyTerm(`module${index}.independent`)] });
      const batch = randomImageBatch(4, index + 1, 10, 16);
      const { gradients } = trainer.computeGradients(batch);
      const ownHead = index === 2 ? ['fc.weight', 'fc.bias'] : trainer.head(index, HeadRoles.independent)!.namedParameters().map(([n]) => n);
      const expected = [...trainer.modules[index]!.namedParameters().map(([n]) => n), ...ownHead].sort();
      expect(nonZeroGradients(gradients)).toEqual(expected);
      expect([...gradients.keys()].sort()).toEqual(expected);
      for (const g of gradients.values()) g.dispose();
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
    }
  });

  it('leaks no tensors across steps, in both modes', () => {
    for (const mode of ['simultaneous', 'sequential'] as const) {
      const backbone = tinyResNet({ inputSize: 16 });
      const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [augLocal()], mode, optimizer: { momentum: 0.9 } });
      const batch = randomImageBatch(4, 1, 10, 16);
      expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
    }
  });
});

describe('with MLAAN', () => {
  /** ResNet-8 layout (stem, (1,0), (2,0), (3,0)) in K = 4 modules, one layer each. */
  const CUTS: readonly CutPoint[] = [[0, 0], [1, 0], [2, 0]];

  it('MLM asks for cascade heads: each a new auxiliary network of the same layers, with its own variables', () => {
    const backbone = smallResNet(1);
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [augLocal(), mlm()] });
    for (let i = 0; i < 3; i++) {
      const independent = auxiliaryHead(trainer, i, HeadRoles.independent);
      const cascade = auxiliaryHead(trainer, i, HeadRoles.cascade);
      expect(cascade.layers).toEqual(independent.layers);
      expect(cascade.namedParameters().every(([n]) => n.startsWith(`auglocal.${i}.cascade.head.`))).toBe(true);
      const own = new Set(independent.namedParameters().map(([, v]) => v));
      expect(cascade.namedParameters().some(([, v]) => own.has(v))).toBe(false);
    }
    trainer.dispose();
    backbone.dispose();
  });

  it("LAM's leap nets: the auxiliary network starts where the leap net ends", () => {
    const backbone = smallResNet(1);
    const [m, l] = withMLAAN();
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [augLocal(), m, l] });
    for (let i = 0; i < 3; i++) {
      const leapHead = trainer.head(i, HeadRoles.cascade);
      expect(leapHead).toBeInstanceOf(LeapHead);
      const sources = (leapHead as LeapHead).leap.sources;
      const end = backbone.sequence.indexOf(sources[sources.length - 1]!);
      const inner = auxiliaryHead(trainer, i, HeadRoles.cascade);
      expect(inner.input.channels).toBe(sources[sources.length - 1]!.outputChannels);
      expect(inner.layers, `module ${i}`).toEqual(selectSubsequentLayers(end, backbone.sequence.length, pyramidDepths(4, 2, 0.5)[i]!));
      // The independent heads stay AugLocal's own networks after the module.
      expect(trainer.head(i, HeadRoles.independent)).toBeInstanceOf(AuxiliaryNetworkHead);
      expect(auxiliaryHead(trainer, i, HeadRoles.independent).layers).toEqual(selectSubsequentLayers(i, 4, pyramidDepths(4, 2, 0.5)[i]!));
    }
    trainer.dispose();
    backbone.dispose();
  });

  it('every term reaches exactly the modules of its span, its head and its leap net; no EMA twin gets a gradient', async () => {
    const make = () => ({ backbone: smallResNet(1), cuts: CUTS, plugins: [augLocal(), ...withMLAAN()] });
    const batch = randomImageBatch(4, 5);
    const reach = await termGradientReach(make, batch, yieldToVitest);
    disposeBatch(batch);
    expect(reach.map((r) => r.term)).toEqual([
      'module0.independent', 'module0.cascade', 'module1.independent', 'module1.cascade',
      'module2.independent', 'module2.cascade', 'module3.independent', 'module3.cascade',
    ]);
    for (const { term, reached, given, expected } of reach) {
      expect(reached, term).toEqual(expected);
      expect(given.filter((n) => n.includes('.ema.'))).toEqual([]);
    }
  });

  it('trains with finite losses and leaks no tensors (paper and reference profiles)', async () => {
    for (const profile of ['paper', 'reference'] as const) {
      const backbone = smallResNet(1);
      const trainer = new LocalTrainer({ backbone, cuts: perBlockCuts(backbone.stageDepths), plugins: [augLocal(), ...withMLAAN({ profile, cascadeWindow: 2 })], optimizer: { momentum: 0.9 } });
      const batch = randomImageBatch(4, 3);
      const { losses } = await trainer.step(batch).read();
      expect(Object.values(losses).every(Number.isFinite), JSON.stringify(losses)).toBe(true);
      expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
    }
  });
});

describe('featurePosition', () => {
  it("is the module's last layer, or the deepest later layer with the features' shape, else an error naming the shape", () => {
    const backbone = resnet32();
    const trainer = new LocalTrainer({ backbone, cuts: [[1, 0], [2, 0]], plugins: [augLocal()] });
    const module = trainer.modules[0]!;
    const request = (channels: number, size: number) => ({ moduleIndex: 0, role: 'cascade' as const, module, isLast: false, roles: new Set(['cascade' as const]), input: { channels, size } });
    expect(featurePosition(request(16, 32), backbone)).toBe(1);
    expect(featurePosition(request(64, 8), backbone)).toBe(15);
    expect(featurePosition(request(32, 16), backbone)).toBe(10);
    expect(() => featurePosition(request(48, 8), backbone)).toThrow(/receives 48 channels at 8x8, which no later layer of resnet32 outputs/);
    trainer.dispose();
    backbone.dispose();
  });
});
