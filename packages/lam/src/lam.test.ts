import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Batch, LocalTrainer, loadCheckpoint, MlaanError, perBlockCuts, saveCheckpoint } from '@mlaan/core';
import { disposeBatch, linearHeadHost, randomBatch, smallResNet } from '@mlaan/test-support';
import { lam, LamError, LamOptions, LeapHead, LeapNetwork } from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** ResNet-14 shape (2 blocks per stage), one block per module: 6 modules, rule-made leap lists. */
function build(options: Parameters<typeof lam>[0] = {}, extra: { seed?: number; weightDecay?: number; learningRate?: number } = {}) {
  const backbone = smallResNet(2, extra.seed ?? 0, 4, 8);
  const plugin = lam(options);
  const trainer = new LocalTrainer({
    backbone,
    cuts: perBlockCuts(backbone.stageDepths),
    plugins: [linearHeadHost(), plugin],
    optimizer: { learningRate: extra.learningRate ?? 0.1, weightDecay: extra.weightDecay ?? 5e-4 },
  });
  return { backbone, plugin, trainer };
}

const batchOf = (seed = 7): Batch => randomBatch({ size: 4, imageSize: 8, classes: 4, seed });

const values = (v: tf.Tensor) => Array.from(v.dataSync());

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('lam() alone (LAM-only ablation)', () => {
  it('wraps the independent head of every module but the last, sized for the leap output', () => {
    const { backbone, plugin, trainer } = build();
    const K = trainer.modules.length;
    expect(K).toBe(6);
    for (let i = 0; i < K; i++) {
      const head = trainer.heads.get(`${i}:independent`)!;
      expect(head instanceof LeapHead).toBe(i < K - 1);
    }
    expect([...plugin.networks.keys()]).toEqual([0, 1, 2, 3, 4]);
    expect(plugin.leapLists.get(0)).toEqual([[2, 0], [3, 0], [3, 1]]);
    expect(plugin.leapLists.get(2)).toEqual([[3, 0], [3, 1]]);
    expect(plugin.leapLists.get(4)).toEqual([[3, 1]]);
    trainer.dispose();
    backbone.dispose();
  });

  it('leap copies start equal to the blocks they copy but are separate variables', () => {
    const { backbone, plugin, trainer } = build();
    for (const network of plugin.networks.values()) {
      network.sources.forEach((source, j) => {
        const real = source.layer.namedVariables();
        const copy = network.copies[j]!.namedVariables();
        expect(copy.map(([n]) => n)).toEqual(real.map(([n]) => n));
        copy.forEach(([, v], k) => {
          expect(v).not.toBe(real[k]![1]);
          expect(values(v)).toEqual(values(real[k]![1]));
        });
      });
      const twin = network.twin.namedVariables();
      twin.forEach(([, v], k) => expect(values(v)).toEqual(values(network.sources[0]!.layer.namedVariables()[k]![1])));
    }
    // Writing a copy leaves the block alone, and training moves them apart.
    const network = plugin.networks.get(0)!;
    const [, copyWeight] = network.copies[1]!.namedParameters()[0]!;
    const [, realWeight] = network.sources[1]!.layer.namedParameters()[0]!;
    const saved = realWeight.clone();
    copyWeight.assign(tf.zerosLike(copyWeight));
    expect(maxDifference(realWeight, saved)).toBe(0);
    copyWeight.assign(saved);
    const batch = batchOf();
    trainer.step(batch).dispose();
    expect(maxDifference(copyWeight, realWeight)).toBeGreaterThan(0);
    saved.dispose();
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('frozen twins get no gradient and no weight decay, and are checkpointed buffers', () => {
    const { backbone, plugin, trainer } = build({ emaDecay: 1 }, { weightDecay: 0.5, learningRate: 0.5 });
    const twinNames = trainer.namedBuffers().map(([n]) => n).filter((n) => n.includes('.ema.'));
    expect(twinNames.length).toBeGreaterThan(0);
    expect(twinNames).toContain('lam.0.ema.conv1.weight');
    expect(trainer.namedParameters().some(([n]) => n.includes('.ema.'))).toBe(false);
    for (const network of plugin.networks.values()) for (const [, v] of network.twin.namedVariables()) expect(v.trainable).toBe(false);
    const batch = batchOf();
    const { gradients } = trainer.computeGradients(batch);
    expect([...gradients.keys()].filter((n) => n.includes('.ema.'))).toEqual([]);
    expect([...gradients.keys()]).toContain('lam.0.blocks.0.conv1.weight');
    for (const g of gradients.values()) g.dispose();
    const before = trainer.namedBuffers().filter(([n]) => n.includes('.ema.') && !n.includes('running')).map(([, v]) => v.clone());
    trainer.step(batch).dispose();
    trainer.step(batch).dispose();
    const after = trainer.namedBuffers().filter(([n]) => n.includes('.ema.') && !n.includes('running')).map(([, v]) => v);
    before.forEach((b, k) => expect(maxDifference(b, after[k]!)).toBe(0));
    before.forEach((b) => b.dispose());
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('EMA: every twin = d * twin + (1 - d) * the real block before the step, after backward', () => {
    const decay = 0.75;
    const { backbone, plugin, trainer } = build({ emaDecay: decay });
    const batch = batchOf();
    trainer.step(batch).dispose(); // move the real blocks away from the twins first
    const snapshot = [...plugin.networks.values()].map((network) => ({
      network,
      twin: network.twin.namedParameters().map(([, v]) => v.clone()),
      real: network.sources[0]!.layer.namedParameters().map(([, v]) => v.clone()),
    }));
    trainer.step(batch).dispose();
    for (const { network, twin, real } of snapshot) {
      const now = network.twin.namedParameters().map(([, v]) => v);
      const realNow = network.sources[0]!.layer.namedParameters().map(([, v]) => v);
      let moved = 0;
      now.forEach((v, k) => {
        const expected = tf.tidy(() => tf.add(tf.mul(twin[k]!, decay), tf.mul(real[k]!, 1 - decay)));
        expect(maxDifference(v, expected)).toBeLessThan(1e-6);
        // Not from the post-step weights: those moved.
        const fromAfter = tf.tidy(() => tf.add(tf.mul(twin[k]!, decay), tf.mul(realNow[k]!, 1 - decay)));
        moved = Math.max(moved, maxDifference(v, fromAfter));
        expected.dispose();
        fromAfter.dispose();
      });
      expect(moved).toBeGreaterThan(1e-6);
      [...twin, ...real].forEach((t) => t.dispose());
    }
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it("reference profile: only the last module's twin follows the EMA", () => {
    const { backbone, plugin, trainer } = build({ profile: 'reference', emaDecay: 0.5 });
    const batch = batchOf();
    trainer.step(batch).dispose();
    const before = new Map([...plugin.networks].map(([i, n]) => [i, n.twin.namedParameters().map(([, v]) => v.clone())]));
    trainer.step(batch).dispose();
    const last = Math.max(...plugin.networks.keys());
    for (const [i, network] of plugin.networks) {
      const change = Math.max(...network.twin.namedParameters().map(([, v], k) => maxDifference(v, before.get(i)![k]!)));
      if (i === last) expect(change).toBeGreaterThan(0);
      else expect(change).toBe(0);
    }
    for (const list of before.values()) list.forEach((t) => t.dispose());
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('the explicit-backward path of a leap head gives the loss and gradients of autograd over loss()', () => {
    const { backbone, trainer } = build({}, { seed: 3 });
    const batch = batchOf(11);
    const context = { training: true, updateStatistics: false };
    for (const moduleIndex of [0, 2, 4]) {
      const head = trainer.heads.get(`${moduleIndex}:independent`) as LeapHead;
      const module = trainer.modules[moduleIndex]!;
      const features = tf.tidy(() => {
        let h: tf.Tensor = batch.inputs;
        for (const m of trainer.modules.slice(0, moduleIndex + 1)) h = m.apply(h, context);
        return h;
      });
      const variables = head.namedParameters().map(([, v]) => v);
      const reference = tf.engine().gradients(() => tf.mul(head.loss(features, batch, context), 0.25) as tf.Scalar, [features, ...variables], undefined, true);
      const ours = head.lossAndGradients(features, batch, context, 0.25);
      expect(ours.loss.dataSync()[0]! * 0.25).toBeCloseTo(reference.value.dataSync()[0]!, 6);
      expect(maxDifference(ours.featureGradient, reference.grads[0]!)).toBeLessThan(1e-6);
      expect(ours.parameterGradients.size).toBe(variables.length);
      variables.forEach((v, i) => expect(maxDifference(ours.parameterGradients.get(v)!, reference.grads[i + 1]!), `${module.index} ${v.name}`).toBeLessThan(1e-6));
      tf.dispose([features, reference.value, ...reference.grads, ours.loss, ours.featureGradient, ...ours.parameterGradients.values()]);
    }
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('leaks no tensors', () => {
    const { backbone, trainer } = build();
    const batch = batchOf();
    trainer.step(batch).dispose();
    const count = tf.memory().numTensors;
    trainer.step(batch).dispose();
    const { gradients, result } = trainer.computeGradients(batch, { runAfterBackward: true });
    gradients.forEach((g) => g.dispose());
    result.dispose();
    expect(tf.memory().numTensors).toBe(count);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('checkpoint and resume keep the EMA twins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lam-checkpoint-'));
    const batch = batchOf();
    const first = build({ emaDecay: 0.5 });
    first.trainer.step(batch).dispose();
    first.trainer.step(batch).dispose();
    await saveCheckpoint(join(dir, 'ckpt'), first.trainer);
    const second = build({ emaDecay: 0.5 }, { seed: 99 });
    const twinOf = (t: LocalTrainer) => t.namedBuffers().filter(([n]) => n.startsWith('lam.'));
    expect(Math.max(...twinOf(first.trainer).map(([, v], k) => maxDifference(v, twinOf(second.trainer)[k]![1])))).toBeGreaterThan(0);
    await loadCheckpoint(join(dir, 'ckpt'), second.trainer);
    twinOf(first.trainer).forEach(([, v], k) => expect(maxDifference(v, twinOf(second.trainer)[k]![1])).toBe(0));
    // Resumed training continues exactly as uninterrupted training does.
    first.trainer.step(batch).dispose();
    second.trainer.step(batch).dispose();
    const all = (t: LocalTrainer) => [...t.namedParameters(), ...t.namedBuffers()];
    const b = all(second.trainer);
    all(first.trainer).forEach(([n, v], k) => expect(maxDifference(v, b[k]![1]), n).toBeLessThan(1e-6));
    disposeBatch(batch);
    for (const { trainer, backbone } of [first, second]) {
      trainer.dispose();
      backbone.dispose();
    }
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('lam() options', () => {
  it('rejects a decay outside (0, 1]', () => {
    for (const emaDecay of [0, -0.1, 1.01, Number.NaN]) {
      expect(() => lam({ emaDecay })).toThrow(LamError);
      expect(() => lam({ emaDecay })).toThrow(/emaDecay must be in \(0, 1\]/);
    }
    expect(() => lam({ emaDecay: 1 })).not.toThrow();
    expect(() => lam({ target: 'both' as 'auto' })).toThrow(/target must be one of/);
    expect(() => lam({ profile: 'fast' as 'paper' })).toThrow(/unknown profile/);
  });

  it('rejects a leap list naming a block that does not exist, at trainer construction', () => {
    const backbone = smallResNet(2, 0, 4, 8);
    const make = (leapBlocks: LamOptions['leapBlocks']) =>
      new LocalTrainer({ backbone, cuts: [[2, 1]], plugins: [linearHeadHost(), lam({ leapBlocks })] });
    expect(() => make({ 0: [[3, 0], [3, 5]] })).toThrow(MlaanError);
    expect(() => make({ 0: [[3, 0], [3, 5]] })).toThrow(/names block \[3, 5\], which does not exist/);
    expect(() => make({ 4: [[3, 1]] })).toThrow(/entry for module 4, but the partition has modules 0-1/);
    const trainer = make({ 0: [[3, 0]] });
    expect((trainer.heads.get('0:independent') as LeapHead).leap.sources.map((b) => b.name)).toEqual(['layer3.0']);
    trainer.dispose();
    backbone.dispose();
  });

  it('accepts a function for the leap lists and gives the default to it', () => {
    const backbone = smallResNet(2, 0, 4, 8);
    const seen: string[] = [];
    const plugin = lam({
      leapBlocks: ({ moduleIndex, defaultList }) => {
        seen.push(`${moduleIndex}:${JSON.stringify(defaultList)}`);
        return moduleIndex === 0 ? [[2, 0], [3, 0]] : undefined;
      },
    });
    const trainer = new LocalTrainer({ backbone, cuts: [[1, 1], [2, 1]], plugins: [linearHeadHost(), plugin] });
    expect(seen).toEqual(['0:[[2,0],[3,0],[3,1]]', '1:[[3,0],[3,1]]']);
    expect(plugin.leapLists.get(0)).toEqual([[2, 0], [3, 0]]);
    expect(plugin.networks.get(1)!).toBeInstanceOf(LeapNetwork);
    trainer.dispose();
    backbone.dispose();
  });
});
