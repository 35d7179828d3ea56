import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { Backbone, CutPoint, getSplit, LocalLearningPlugin, LocalTrainer, LossTerm, MlaanError, perBlockCuts } from '@mlaan/core';
import { disposeBatch, linearHeadHost, nonZeroGradients, randomBatch, smallResNet, tensorsLeftBySteps } from '@mlaan/test-support';
import { LamPlugin, LeapHead } from '@mlaan/lam';
import { resnet110, resnet32 } from '@mlaan/models';
import { lam, mlm, MlaanOptionsError, withMLAAN } from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Long synchronous stretches starve vitest's worker RPC; give it a turn between them. */
const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

const batchOf = (seed = 7) => randomBatch({ size: 4, imageSize: 8, classes: 10, seed });

describe('withMLAAN()', () => {
  it('is the pair [mlm, lam] with the profile passed to both', () => {
    const [m, l] = withMLAAN();
    expect([m.name, l.name]).toEqual(['mlm', 'lam']);
    expect(() => withMLAAN({ profile: 'fastest' as 'paper' })).toThrow(MlaanOptionsError);
    expect(() => withMLAAN({ windw: 2 } as never)).toThrow(/unknown option\(s\) 'windw'/);
    expect(() => withMLAAN({ cascadeWindow: 0 })).toThrow(MlaanError);
    expect(() => withMLAAN({ emaDecay: 1.5 })).toThrow(/emaDecay must be in \(0, 1\]/);
  });
});

/** Modules (by index) whose parameters a term's gradient must reach, and nothing else. */
function routingTable(trainer: LocalTrainer): Record<string, number[]> {
  return Object.fromEntries(
    trainer.terms.map((t) => [t.name, Array.from({ length: t.span[1] - t.span[0] + 1 }, (_, k) => t.span[0] + k)]),
  );
}

/**
 * For each loss term alone, the variables with a non-zero gradient are exactly the parameters of
 * the modules of its span, of its head and of the head's leap net; never an EMA twin.
 */
async function checkRouting(make: () => { backbone: Backbone; cuts: readonly CutPoint[]; plugins: LocalLearningPlugin[] }): Promise<void> {
  const probe = make();
  const probeTrainer = new LocalTrainer({ backbone: probe.backbone, cuts: probe.cuts, plugins: probe.plugins });
  const termNames = probeTrainer.terms.map((t) => t.name);
  probeTrainer.dispose();
  probe.backbone.dispose();
  const batch = batchOf();
  for (const name of termNames) {
    await yieldToVitest();
    const { backbone, cuts, plugins } = make();
    const only: LocalLearningPlugin = { name: 'only', enforce: 'post', terms: (ts: LossTerm[]) => ts.filter((t) => t.name === name) };
    const trainer = new LocalTrainer({ backbone, cuts, plugins: [...plugins, only] });
    const term = trainer.terms[0]!;
    const expected = new Set<string>();
    for (let m = term.span[0]; m <= term.span[1]; m++) for (const [n] of trainer.modules[m]!.namedParameters()) expected.add(n);
    for (const [n] of trainer.heads.get(`${term.span[1]}:${term.role}`)!.namedParameters()) expected.add(n);
    const { gradients } = trainer.computeGradients(batch);
    expect(new Set(nonZeroGradients(gradients)), name).toEqual(expected);
    expect([...gradients.keys()].filter((n) => n.includes('.ema.'))).toEqual([]);
    for (const g of gradients.values()) g.dispose();
    trainer.dispose();
    backbone.dispose();
  }
  disposeBatch(batch);
}

describe('gradient routing (host + MLM + LAM)', () => {
  it('K = 4, paper profile: the routing table', async () => {
    // ResNet-8 shape: stem, (1,0), (2,0), (3,0); K = 4 puts the stem alone in module 0.
    const cuts: CutPoint[] = [[0, 0], [1, 0], [2, 0]];
    const make = () => ({ backbone: smallResNet(1, 0, 10, 8), cuts, plugins: [linearHeadHost(), ...withMLAAN()] });
    const { backbone } = make();
    const trainer = new LocalTrainer({ backbone, cuts, plugins: make().plugins });
    expect(routingTable(trainer)).toEqual({
      'module0.independent': [0],
      'module0.cascade': [0],
      'module1.independent': [1],
      'module1.cascade': [0, 1],
      'module2.independent': [2],
      'module2.cascade': [0, 1, 2],
      'module3.independent': [3],
      'module3.cascade': [1, 2, 3],
    });
    // The cascaded heads of modules 0-2 carry a leap net; the last module's heads are the classifier.
    for (let i = 0; i < 3; i++) {
      expect(trainer.heads.get(`${i}:cascade`)).toBeInstanceOf(LeapHead);
      expect(trainer.heads.get(`${i}:independent`)).not.toBeInstanceOf(LeapHead);
    }
    expect(trainer.heads.get('3:cascade')!.name).toBe('classifier');
    trainer.dispose();
    backbone.dispose();
    await checkRouting(make);
  });

  it('one block per module, reference profile: the routing table', async () => {
    const make = () => {
      const backbone = smallResNet(2, 0, 10, 8);
      return { backbone, cuts: perBlockCuts(backbone.stageDepths), plugins: [linearHeadHost(), ...withMLAAN({ profile: 'reference' })] };
    };
    const { backbone, cuts, plugins } = make();
    const trainer = new LocalTrainer({ backbone, cuts, plugins });
    expect(routingTable(trainer)).toEqual({
      'module1.independent': [1],
      'module1.cascade': [0, 1],
      'module2.independent': [2],
      'module2.cascade': [1, 2],
      'module3.independent': [3],
      'module3.cascade': [2, 3],
      'module4.independent': [4],
      'module4.cascade': [3, 4],
      'module5.cascade': [4, 5],
    });
    trainer.dispose();
    backbone.dispose();
    await checkRouting(make);
  });
});

describe('composition', () => {
  it('host + MLM + LAM in either order gives the same terms, heads, gradients and step', () => {
    const cuts: CutPoint[] = [[1, 0], [2, 0]];
    const run = (order: 'mlm-first' | 'lam-first') => {
      const backbone = smallResNet(1, 0, 10, 8);
      const m = mlm({ cascadeWindow: 2 });
      const l = lam({ emaDecay: 0.9 });
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost(), ...(order === 'mlm-first' ? [m, l] : [l, m])] });
      const batch = batchOf();
      const { gradients } = trainer.computeGradients(batch, { runAfterBackward: true });
      const grads = new Map([...gradients].map(([n, g]) => [n, Array.from(g.dataSync())]));
      for (const g of gradients.values()) g.dispose();
      trainer.step(batch).dispose();
      const state = new Map([...trainer.namedParameters(), ...trainer.namedBuffers()].map(([n, v]) => [n, Array.from(v.dataSync())]));
      const shape = { terms: trainer.terms, heads: [...trainer.heads].map(([k, h]) => `${k} ${h.name}`) };
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
      return { grads, state, shape };
    };
    const a = run('mlm-first');
    const b = run('lam-first');
    expect(b.shape).toEqual(a.shape);
    expect([...b.grads.keys()]).toEqual([...a.grads.keys()]);
    for (const [n, g] of a.grads) expect(b.grads.get(n), n).toEqual(g);
    for (const [n, v] of a.state) expect(b.state.get(n), n).toEqual(v);
  });

  it('ablations are configurations: host, host + MLM, host + LAM, host + MLAAN', () => {
    const cuts: CutPoint[] = [[1, 0], [2, 0]];
    const configurations: Record<string, () => LocalLearningPlugin[]> = {
      host: () => [linearHeadHost()],
      'host+mlm': () => [linearHeadHost(), mlm({ cascadeWindow: 2 })],
      'host+lam': () => [linearHeadHost(), lam()],
      'host+mlaan': () => [linearHeadHost(), ...withMLAAN({ cascadeWindow: 2 })],
    };
    const summary: Record<string, string[]> = {};
    for (const [name, plugins] of Object.entries(configurations)) {
      const backbone = smallResNet(1, 0, 10, 8);
      const trainer = new LocalTrainer({ backbone, cuts, plugins: plugins() });
      summary[name] = [...trainer.heads].map(([k, h]) => `${k}${h instanceof LeapHead ? '+leap' : ''}`);
      trainer.dispose();
      backbone.dispose();
    }
    expect(summary).toEqual({
      host: ['0:independent', '1:independent', '2:independent'],
      'host+mlm': ['0:independent', '0:cascade', '1:independent', '1:cascade', '2:independent', '2:cascade'],
      'host+lam': ['0:independent+leap', '1:independent+leap', '2:independent'],
      'host+mlaan': ['0:independent', '0:cascade+leap', '1:independent', '1:cascade+leap', '2:independent', '2:cascade'],
    });
  });

  it('leaks no tensors', () => {
    const backbone = smallResNet(1, 0, 10, 8);
    const trainer = new LocalTrainer({ backbone, cuts: [[1, 0], [2, 0]], plugins: [linearHeadHost(), ...withMLAAN({ cascadeWindow: 2 })] });
    const batch = batchOf();
    expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });
});

describe('reference profile generalises beyond the fixture (K = 8)', () => {
  const cases: [string, () => Backbone, (number | 'per-block')[]][] = [
    ['resnet32', () => resnet32(), [2, 3, 4, 8, 16, 'per-block']],
    ['resnet110', () => resnet110(), [4, 'per-block']],
  ];
  it.each(cases)('%s: terms, leap placement and EMA target follow resnetMLAAN.py for every K', async (net, build, ks) => {
    const backbone = build();
    for (const K of ks) {
      await yieldToVitest();
      const cuts = getSplit({ net, K });
      const [m, l] = withMLAAN({ profile: 'reference' });
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost(), m, l] });
      const n = trainer.modules.length;
      const expected: string[] = [];
      for (let i = 1; i < n - 1; i++) expected.push(`module${i}.independent [${i},${i}] 0.001`, `module${i}.cascade [${i - 1},${i}] 0.999`);
      expected.push(`module${n - 1}.cascade [${n - 2},${n - 1}] 1`);
      expect(trainer.terms.map((t) => `${t.name} [${t.span}] ${t.weight}`), `${net} K=${K}`).toEqual(expected);
      // A LAM in front of every cascaded head but the last module's; none on the independent heads.
      expect([...(l as LamPlugin).networks.keys()]).toEqual(Array.from({ length: n - 2 }, (_, k) => k + 1));
      for (const [key, head] of trainer.heads) expect(head instanceof LeapHead, key).toBe(key.endsWith(':cascade') && key !== `${n - 1}:cascade`);
      trainer.dispose();
    }
    backbone.dispose();
  });
});

describe('activation schedules (host + MLAAN)', () => {
  it('window, sweep and keep give the same losses, gradients and twins', async () => {
    const cuts: CutPoint[] = [[0, 0], [1, 0], [2, 0]];
    const run = async (activations: 'keep' | 'window' | 'sweep') => {
      const backbone = smallResNet(1, 0, 10, 8);
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost(), ...withMLAAN()], activations });
      const batch = batchOf(3);
      const { gradients, result } = trainer.computeGradients(batch);
      const { losses } = await result.read();
      const grads = new Map([...gradients].map(([n, g]) => [n, g.dataSync().slice()]));
      for (const g of gradients.values()) g.dispose();
      trainer.step(batch).dispose();
      const twins = new Map(trainer.namedBuffers().filter(([n]) => n.includes('.ema.')).map(([n, v]) => [n, Array.from(v.dataSync())]));
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
      return { grads, losses, twins };
    };
    const keep = await run('keep');
    for (const recompute of [await run('window'), await run('sweep')]) {
      expect(recompute.losses).toEqual(keep.losses);
      expect([...recompute.grads.keys()].sort()).toEqual([...keep.grads.keys()].sort());
      for (const [name, g] of keep.grads) {
        const other = recompute.grads.get(name)!;
        const scale = Math.max(...g.map(Math.abs), 1e-12);
        const difference = Math.max(...g.map((v, i) => Math.abs(v - other[i]!)));
        expect(difference / scale, name).toBeLessThan(1e-6);
      }
      expect(recompute.twins).toEqual(keep.twins);
    }
  });

  it('auto sweeps for ResNet-32 at K = 4 (a 3-module window is most of the backbone) and keeps a window for one block per module', () => {
    const choose = (cuts: readonly CutPoint[]) => {
      const backbone = resnet32();
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost(), ...withMLAAN()] });
      const chosen = trainer.schedule;
      trainer.dispose();
      backbone.dispose();
      return chosen;
    };
    expect(choose(getSplit({ net: 'resnet32', K: 4 }))).toBe('sweep');
    expect(choose(perBlockCuts([5, 5, 5]))).toBe('window');
  });
});
