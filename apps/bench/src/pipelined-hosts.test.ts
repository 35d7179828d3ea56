import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LocalTrainer, loadRecipe, PipelinedTrainer, readSteps, registerCpuTrainingKernels, type TrainerRecipe } from '@mlaan/core';
import { disposeBatches, randomBatch } from '@mlaan/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HostRecipeOptions } from './pipelined-hosts.fixture.js';

// The pipelined trainer against the sequential one with the real hosts: DGL's and InfoPro's terms
// stay inside one module, so streaming module outputs forward must give the same bits.

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

const recipe = (options: HostRecipeOptions): TrainerRecipe => ({ module: new URL('./pipelined-hosts.fixture.ts', import.meta.url).href, options, backend: 'cpu' });

function bits(trainer: LocalTrainer): Map<string, Int32Array> {
  const state = trainer.optimizer.state();
  const out = new Map<string, Int32Array>();
  for (const [name, v] of [...trainer.namedParameters(), ...trainer.namedBuffers()]) {
    out.set(name, new Int32Array(new Float32Array(v.dataSync() as Float32Array).buffer));
    const buffer = state.get(v);
    if (buffer) out.set(`momentum.${name}`, new Int32Array(new Float32Array(buffer.dataSync() as Float32Array).buffer));
  }
  return out;
}

/** host, workers, mode, plugins, the schedule with plugins, and a placement other than 'count'. */
type HostCase = [
  host: HostRecipeOptions['host'],
  workers: number,
  mode: 'simultaneous' | 'sequential',
  plugins?: HostRecipeOptions['plugins'],
  activations?: HostRecipeOptions['activations'],
  placement?: [number, number][],
];

describe('PipelinedTrainer with DGL, InfoPro, MLM, LAM and MLAAN equals LocalTrainer bit for bit', () => {
  const cases: HostCase[] = [
    ['dgl', 2, 'simultaneous', undefined],
    ['dgl', 4, 'sequential', undefined],
    ['infopro', 2, 'simultaneous', undefined],
    ['infopro', 4, 'simultaneous', undefined],
    // MLM's cascade windows cross the worker boundary: cotangents go back, exact mode.
    ['dgl', 2, 'simultaneous', 'mlm'],
    // LAM's twins read later workers' blocks: their weights come back after every step.
    ['dgl', 2, 'simultaneous', 'lam'],
    ['infopro', 2, 'simultaneous', 'mlaan'],
    // The sweep schedule (the bench's MLM and MLAAN runs), the later worker starting at module 1:
    // the windows that began in worker 0 end at modules 1 and 2, so their cotangents go up before
    // worker 1 has run module 3; and with the boundary at 2, where the last ends at module 3.
    ['dgl', 2, 'simultaneous', 'mlm', 'sweep', [[0, 1], [1, 4]]],
    ['dgl', 2, 'simultaneous', 'mlm', 'sweep', [[0, 2], [2, 4]]],
    ['infopro', 2, 'simultaneous', 'mlaan', 'sweep', [[0, 1], [1, 4]]],
  ];
  for (const [host, workers, mode, plugins, activations, placement] of cases) {
    const options: HostRecipeOptions = { host, mode, plugins, activations };
    it(`${host}${plugins ? ` + ${plugins}` : ''}, ${mode}, K = 4, W = ${workers}${activations ? `, ${activations}` : ''}${placement ? `, placement ${JSON.stringify(placement)}` : ''}`, async () => {
      const batches = Array.from({ length: 3 }, (_, i) => randomBatch({ size: 4, seed: 30 + i }));
      const local = new LocalTrainer(await loadRecipe(recipe(options)));
      expect(local.schedule).toBe(activations ?? (plugins ? 'keep' : local.schedule));
      const expected = await readSteps(batches.map((b) => local.step(b)));
      const pipelined = await PipelinedTrainer.create({ recipe: recipe(options), workers, placement: placement ?? 'count' });
      try {
        const results = [];
        for await (const r of pipelined.train(batches.map((b) => ({ ...b, inputs: b.inputs.clone(), labels: b.labels.clone() })))) results.push(r);
        expect(results).toEqual(expected);
        await pipelined.synchronize();
        const actual = bits(pipelined.mirror);
        const reference = bits(local);
        expect([...actual.keys()].sort()).toEqual([...reference.keys()].sort());
        expect([...reference].filter(([name, b]) => !tf.util.arraysEqual(actual.get(name)!, b)).map(([name]) => name)).toEqual([]);
      } finally {
        await pipelined.close();
        local.dispose();
        disposeBatches(batches);
      }
    });
  }
});
