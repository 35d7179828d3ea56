import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineWorkerError } from '../errors.js';
import { loadCheckpoint, readCheckpointManifest, saveCheckpoint } from '../io/checkpoint.js';
import { registerCpuTrainingKernels } from '../kernels/index.js';
import { disposeBatches, randomBatch } from '../testing/index.js';
import type { Batch } from '../training/plugin.js';
import { readSteps, type StepValues } from '../training/step-result.js';
import { LocalTrainer } from '../training/trainer.js';
import { PipelinedTrainer, type PipelinedTrainerOptions } from './pipelined-trainer.js';
import { loadRecipe, type TrainerRecipe } from './recipe.js';
import type { TinyRecipeOptions } from './tiny-recipe.fixture.js';

const MODULE = new URL('./tiny-recipe.fixture.ts', import.meta.url).href;
const recipe = (options: TinyRecipeOptions = {}): TrainerRecipe => ({ module: MODULE, options, backend: 'cpu' });

let folder: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
  folder = await mkdtemp(join(tmpdir(), 'mlaan-pipeline-'));
});
afterAll(() => rm(folder, { recursive: true, force: true }));

const batches = (count: number, from = 0): Batch[] => Array.from({ length: count }, (_, i) => randomBatch({ size: 4, seed: 100 + from + i }));

async function reference(options: TinyRecipeOptions = {}): Promise<LocalTrainer> {
  return new LocalTrainer(await loadRecipe(recipe(options)));
}

/** Every variable and momentum buffer, by name, as raw bits. */
function snapshot(trainer: LocalTrainer): Map<string, Int32Array> {
  const out = new Map<string, Int32Array>();
  const bits = (t: tf.Tensor) => new Int32Array(new Float32Array(t.dataSync() as Float32Array).buffer);
  const state = trainer.optimizer.state();
  for (const [name, v] of [...trainer.namedParameters(), ...trainer.namedBuffers()]) {
    out.set(name, bits(v));
    const buffer = state.get(v);
    if (buffer) out.set(`momentum.${name}`, bits(buffer));
  }
  return out;
}

function expectBitwiseEqual(actual: Map<string, Int32Array>, expected: Map<string, Int32Array>): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  const differing = [...expected].filter(([name, bits]) => !tf.util.arraysEqual(actual.get(name)!, bits)).map(([name]) => name);
  expect(differing).toEqual([]);
}

async function collect(results: AsyncIterable<StepValues>): Promise<StepValues[]> {
  const out: StepValues[] = [];
  for await (const r of results) out.push(r);
  return out;
}

async function pipelined({ recipeOptions, ...options }: Partial<PipelinedTrainerOptions> & { recipeOptions?: TinyRecipeOptions }): Promise<PipelinedTrainer> {
  return PipelinedTrainer.create({ recipe: recipe(recipeOptions), workers: 2, placement: 'count', ...options });
}

/**
 * Three steps of a pipeline and of `LocalTrainer` from the same recipe: the same results in order
 * (the i-th is the i-th batch's) and the same bits in every variable and momentum buffer; `more`
 * runs further checks on the pipeline before it closes.
 */
async function expectSameAsLocalTrainer(
  recipeOptions: TinyRecipeOptions,
  options: Partial<PipelinedTrainerOptions>,
  more: (trainer: PipelinedTrainer) => Promise<void> = async () => {},
): Promise<void> {
  const data = batches(3);
  const local = await reference(recipeOptions);
  const expected = await readSteps(data.map((b) => local.step(b)));
  const trainer = await pipelined({ recipeOptions, ...options });
  try {
    expect(trainer.placement.ranges).toHaveLength(options.workers ?? 2);
    const results = await collect(trainer.train(data.map((b) => ({ ...b, inputs: b.inputs.clone(), labels: b.labels.clone() }))));
    expect(results).toEqual(expected);
    await trainer.synchronize();
    expectBitwiseEqual(snapshot(trainer.mirror), snapshot(local));
    await more(trainer);
  } finally {
    await trainer.close();
    local.dispose();
    disposeBatches(data);
  }
}

describe('PipelinedTrainer equals LocalTrainer bit for bit (forward streaming)', () => {
  for (const [mode, workers, placement] of [
    ['simultaneous', 2, 'measured'],
    ['sequential', 4, [[0, 1], [1, 2], [2, 3], [3, 4]]],
  ] as const) {
    it(`${mode}, K = 4, W = ${workers}, placement ${JSON.stringify(placement)}`, async () => {
      await expectSameAsLocalTrainer({ mode }, { workers, placement: placement as PipelinedTrainerOptions['placement'] }, async (trainer) => {
        if (placement === 'measured') expect(trainer.moduleCosts!.milliseconds).toHaveLength(4);
        // No tensor left behind in any worker over the steps after the first.
        const meters = trainer.meters();
        expect(meters.map((m) => m.steps)).toEqual(new Array(workers).fill(3));
        const before = meters.map((m) => m.numTensors);
        for await (const _ of trainer.train(batches(2, 10)));
        expect(trainer.meters().map((m) => m.numTensors)).toEqual(before);
      });
    });
  }

  it('cascade terms across worker boundaries (MLM) are exchanged exactly: cotangents of batch t before step t', async () => {
    // Two cascades over two workers, and one over all four (it crosses three boundaries).
    for (const [workers, cascades] of [
      [2, [[1, 2], [0, 3]]],
      [4, [[0, 3], [2, 3]]],
    ] as const) {
      await expectSameAsLocalTrainer({ cascades: cascades.map(([a, b]) => [a, b]) }, { workers, placement: 'count' });
    }
  });
});

describe("exchange 'delayed': the cascade cotangents of batch t-1 apply at step t", () => {
  it('step 1 gives the earlier worker only its own terms, the later one the exact result; step 2 adds the late cotangents', async () => {
    const withCascade: TinyRecipeOptions = { cascades: [[1, 2]] };
    const data = batches(2);
    const exact = await reference(withCascade);
    const alone = await reference({ cascades: [] });
    const trainer = await pipelined({ recipeOptions: withCascade, exchange: 'delayed' });
    try {
      const [first, end] = trainer.placement.ranges[0]!;
      expect([first, end]).toEqual([0, 2]);
      const earlier = new Set(exact.variablesOfRange(first, end).map(([name]) => name));
      const split = (bits: Map<string, Int32Array>, inEarlier: boolean) =>
        new Map([...bits].filter(([name]) => earlier.has(name.replace(/^momentum\./, '')) === inEarlier));
      exact.step(data[0]!).dispose();
      alone.step(data[0]!).dispose();
      await trainer.step(data[0]!);
      await trainer.synchronize();
      const afterOne = snapshot(trainer.mirror);
      expectBitwiseEqual(split(afterOne, true), split(snapshot(alone), true));
      expectBitwiseEqual(split(afterOne, false), split(snapshot(exact), false));

      exact.step(data[1]!).dispose();
      alone.step(data[1]!).dispose();
      await trainer.step(data[1]!);
      await trainer.synchronize();
      const afterTwo = split(snapshot(trainer.mirror), true);
      const moduleOne = [...afterTwo.keys()].filter((name) => name.startsWith('layer1.0.') && !name.startsWith('momentum.'));
      expect(moduleOne.length).toBeGreaterThan(0);
      // Module 1 got the late cascade gradient: neither without it nor the exact one.
      for (const other of [snapshot(alone), snapshot(exact)]) {
        expect(moduleOne.some((name) => !tf.util.arraysEqual(afterTwo.get(name)!, other.get(name)!))).toBe(true);
      }
    } finally {
      await trainer.close();
      exact.dispose();
      alone.dispose();
      disposeBatches(data);
    }
  });

  it('rejects a term across two worker boundaries', async () => {
    await expect(pipelined({ recipeOptions: { cascades: [[0, 3]] }, workers: 4, placement: 'count', exchange: 'delayed' })).rejects.toThrow(
      /'window0-3' spans modules \[0, 3\] across more than one worker boundary/,
    );
  });
});

describe('PipelinedTrainer flow', () => {
  it('a slow last stage blocks the first (back-pressure): queues never exceed their capacity, reading stays bounded', async () => {
    const trainer = await pipelined({ recipeOptions: { slow: { module: 3, milliseconds: 40 } }, queueCapacity: 1 });
    let read = 0;
    let yielded = 0;
    let mostAhead = 0;
    function* source(): Generator<Batch> {
      for (let i = 0; i < 10; i++) {
        read += 1;
        mostAhead = Math.max(mostAhead, read - yielded);
        yield randomBatch({ size: 4, seed: i });
      }
    }
    try {
      for await (const _ of trainer.train(source())) yielded += 1;
      expect(yielded).toBe(10);
      const [first, last] = trainer.meters();
      expect(first!.peakQueued).toBeLessThanOrEqual(1);
      expect(last!.peakQueued).toBeLessThanOrEqual(1);
      // The first stage spent time blocked on the second one's full inbox.
      expect(first!.waitingOutputMs).toBeGreaterThan(40);
      expect(mostAhead).toBeLessThanOrEqual(2 * (1 + 1) + 1);
    } finally {
      await trainer.close();
    }
    // close() returns once every thread has exited; the trainer then refuses work.
    expect(trainer.threads.map((w) => w.threadId)).toEqual([-1, -1]);
    await expect(trainer.step(randomBatch())).rejects.toThrow(/closed/);
  });

  it('a worker that throws stops the run with PipelineWorkerError naming it; every worker is terminated', async () => {
    const trainer = await pipelined({ recipeOptions: { failing: { module: 3, step: 2 } } });
    const run = collect(trainer.train(batches(4)));
    const error = await run.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineWorkerError);
    expect(error).toMatchObject({ worker: 1, modules: [2, 4] });
    expect(String((error as Error).message)).toMatch(/injected failure in module 3/);
    // Both threads exit (the test times out otherwise).
    await Promise.all(trainer.threads.map((w) => (w.threadId === -1 ? undefined : new Promise((resolve) => w.once('exit', resolve)))));
    await expect(trainer.step(randomBatch())).rejects.toBeInstanceOf(PipelineWorkerError);
    await trainer.close();
  });

  it('a terminated worker stops the run, a save after it fails and leaves the last checkpoint whole; resume continues exactly', async () => {
    const dir = join(folder, 'resume');
    const data = batches(4);
    const clone = (b: Batch): Batch => ({ ...b, inputs: b.inputs.clone(), labels: b.labels.clone() });
    const local = await reference();
    for (const b of data) local.step(b).dispose();
    const trainer = await pipelined({});
    await collect(trainer.train(data.slice(0, 2).map(clone)));
    await trainer.saveCheckpoint(dir, { note: 'two steps' });
    const third = trainer.step(data[2]!);
    await trainer.threads[0]!.terminate();
    await expect(third).rejects.toBeInstanceOf(PipelineWorkerError);
    await expect(trainer.saveCheckpoint(dir)).rejects.toBeInstanceOf(PipelineWorkerError);
    await trainer.close();
    expect((await readCheckpointManifest(dir)).step).toBe(2);
    expect((await readdir(folder)).filter((name) => name.includes('.partial-'))).toEqual([]);

    const resumed = await pipelined({ workers: 4 });
    try {
      const manifest = await resumed.loadCheckpoint(dir);
      expect(manifest.extra).toEqual({ note: 'two steps' });
      expect(resumed.stepCount).toBe(2);
      await collect(resumed.train(data.slice(2).map(clone)));
      await resumed.synchronize();
      expectBitwiseEqual(snapshot(resumed.mirror), snapshot(local));
    } finally {
      await resumed.close();
      local.dispose();
      disposeBatches(data);
    }
  });

  it("a LocalTrainer checkpoint runs in the pipeline and the pipeline's in a LocalTrainer", async () => {
    const data = batches(3);
    const toPipeline = join(folder, 'from-local');
    const toLocal = join(folder, 'from-pipeline');
    const local = await reference();
    local.step(data[0]!).dispose();
    await saveCheckpoint(toPipeline, local);
    const trainer = await pipelined({});
    const other = await reference();
    try {
      await trainer.loadCheckpoint(toPipeline);
      await trainer.step(data[1]!);
      local.step(data[1]!).dispose();
      await trainer.saveCheckpoint(toLocal);
      await loadCheckpoint(toLocal, other);
      expectBitwiseEqual(snapshot(other), snapshot(local));
      expect(other.stepCount).toBe(2);
      other.step(data[2]!).dispose();
      local.step(data[2]!).dispose();
      expectBitwiseEqual(snapshot(other), snapshot(local));
      // evaluate runs on the synchronized mirror.
      const evaluation = await trainer.evaluate([randomBatch({ size: 4, seed: 1 })]);
      expect(evaluation.count).toBe(4);
    } finally {
      await trainer.close();
      local.dispose();
      other.dispose();
      disposeBatches(data);
    }
  });
});
