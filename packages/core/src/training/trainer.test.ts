import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ActivationPolicy, ConfigError, crossEntropy, LocalLearningPlugin, LocalTrainer, LossTerm, registerCpuTrainingKernels, SgdOptimizer, ShapeError, TRAIN } from '../index.js';
import { disposeBatch, linearHeadHost, nonZeroGradients, randomBatch, tensorsLeftBy, tensorsLeftBySteps, tinyBackbone } from '../testing/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerCpuTrainingKernels();
});

const CUTS = [[0, 0], [1, 1]] as const; // modules: {stem}, {layer1.0, layer1.1}, {layer2.0}

describe('gradient isolation', () => {
  it('a local loss gives gradient to its own module and head only', () => {
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({
      backbone,
      cuts: CUTS,
      plugins: [linearHeadHost({ terms: (terms) => terms.filter((t) => t.span[1] === 1) })],
    });
    const batch = randomBatch();
    const { gradients } = trainer.computeGradients(batch);
    const moduleOne = trainer.modules[1]!.namedParameters().map(([n]) => n);
    expect(nonZeroGradients(gradients)).toEqual([...moduleOne, 'head.1.independent.fc.bias', 'head.1.independent.fc.weight'].sort());
    for (const [name] of trainer.modules[0]!.namedParameters()) expect(gradients.has(name)).toBe(false);
    for (const g of gradients.values()) g.dispose();
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('matches per-module autograd with detached inputs, and a cascade span matches autograd over the window', () => {
    const backbone = tinyBackbone({ seed: 4 });
    const trainer = new LocalTrainer({
      backbone,
      cuts: CUTS,
      plugins: [
        linearHeadHost({
          terms: (terms) => [
            ...terms.map((t) => ({ ...t, weight: 0.25 })),
            { name: 'window', span: [0, 1] as const, role: 'cascade' as const, weight: 0.75 },
          ],
        }),
      ],
    });
    const batch = randomBatch({ seed: 3 });
    // Reference: every loss recomputed under tfjs autograd; no running-stat updates.
    const ctx = { ...TRAIN, updateStatistics: false };
    const [m0, m1, m2] = trainer.modules as [typeof trainer.modules[0], typeof trainer.modules[0], typeof trainer.modules[0]];
    const h0 = m0!.apply(batch.inputs, ctx);
    const h1 = m1!.apply(h0, ctx);
    const reference = new Map<string, tf.Tensor>();
    const add = (vars: [string, tf.Variable][], f: () => tf.Scalar) => {
      const { grads } = tf.engine().gradients(f, vars.map(([, v]) => v));
      vars.forEach(([n], i) => {
        const prev = reference.get(n);
        reference.set(n, prev ? tf.add(prev, grads[i]!) : grads[i]!);
      });
    };
    const head = (i: number, role: 'independent' | 'cascade') => trainer.heads.get(`${i}:${role}`)!;
    const headVars = (i: number, role: 'independent' | 'cascade') => head(i, role).namedParameters() as [string, tf.Variable][];
    const vars = (i: number) => trainer.modules[i]!.namedParameters() as [string, tf.Variable][];
    add([...vars(0), ...headVars(0, 'independent')], () => tf.mul(head(0, 'independent').loss(m0!.apply(batch.inputs, ctx), batch, ctx), 0.25) as tf.Scalar);
    add([...vars(1), ...headVars(1, 'independent')], () => tf.mul(head(1, 'independent').loss(m1!.apply(h0, ctx), batch, ctx), 0.25) as tf.Scalar);
    add([...vars(2), ...headVars(2, 'independent')], () => tf.mul(head(2, 'independent').loss(m2!.apply(h1, ctx), batch, ctx), 0.25) as tf.Scalar);
    add([...vars(0), ...vars(1), ...headVars(1, 'cascade')], () =>
      tf.mul(head(1, 'cascade').loss(m1!.apply(m0!.apply(batch.inputs, ctx), ctx), batch, ctx), 0.75) as tf.Scalar,
    );
    const { gradients } = trainer.computeGradients(batch);
    expect([...gradients.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [name, expected] of reference) {
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(gradients.get(name)!, expected))).dataSync()[0]! / Math.max(tf.max(tf.abs(expected)).dataSync()[0]!, 1e-12));
      expect(err, name).toBeLessThan(1e-4);
    }
    for (const t of [...gradients.values(), ...reference.values(), h0, h1]) t.dispose();
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('checks shapes and plugin configuration', () => {
    const backbone = tinyBackbone();
    expect(() => new LocalTrainer({ backbone, cuts: CUTS })).toThrow(/No plugin makes the .independent. head of module 0/);
    expect(
      () => new LocalTrainer({ backbone, cuts: CUTS, mode: 'sequential', plugins: [linearHeadHost({ terms: (t) => [...t, { name: 'w', span: [0, 1], role: 'cascade', weight: 1 }] })] }),
    ).toThrow(ConfigError);
    const trainer = new LocalTrainer({ backbone });
    const bad = { inputs: tf.zeros([2, 3, 8, 8]) as tf.Tensor4D, labels: tf.tensor1d([0, 1], 'int32') };
    expect(() => trainer.step(bad)).toThrow(ShapeError);
    // A normalization that is not { mean, std } per channel (the fuzz test's 'cifar') is refused up front.
    const named = { inputs: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D, labels: tf.tensor1d([0, 1], 'int32'), normalization: 'cifar' as never };
    expect(() => trainer.step(named)).toThrow(/normalization must be \{ mean, std \} with 3 finite numbers/);
    trainer.dispose();
    backbone.dispose();
  });
});

describe('SGD (PyTorch semantics)', () => {
  it('applies weight decay, momentum and Nesterov exactly', () => {
    const p = tf.variable(tf.tensor1d([1]));
    const sgd = new SgdOptimizer({ learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 });
    const g = tf.tensor1d([0.5]);
    sgd.step(new Map([[p, g]]));
    // d = 0.5 + 0.01*1 = 0.51; buf = 0.51; d = 0.51 + 0.9*0.51 = 0.969; p = 1 - 0.0969
    expect(p.dataSync()[0]).toBeCloseTo(0.9031, 6);
    sgd.step(new Map([[p, g]]));
    // d = 0.5 + 0.009031 = 0.509031; buf = 0.9*0.51 + 0.509031 = 0.968031; d = 0.509031 + 0.8712279 = 1.3802589
    expect(p.dataSync()[0]).toBeCloseTo(0.9031 - 0.13802589, 6);
    sgd.dispose();
    p.dispose();
    g.dispose();
  });
});

describe('SGD state', () => {
  it('setState keeps a copy of the buffer and leaves no other tensor behind', () => {
    const before = tf.memory().numTensors;
    const p = tf.tidy(() => tf.variable(tf.tensor1d([1])));
    const sgd = new SgdOptimizer({ learningRate: 0.1, momentum: 0.9 });
    const buffer = tf.tensor1d([0.25]);
    sgd.setState(p, buffer);
    buffer.dispose();
    expect(Array.from(sgd.state().get(p)!.dataSync())).toEqual([0.25]);
    sgd.dispose();
    p.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a trainer and its backbone leave no tensor behind after dispose', () => {
    const before = tf.memory().numTensors;
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost()] });
    trainer.dispose();
    backbone.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('training steps', () => {
  it('leak no tensors across steps, in both modes', () => {
    for (const mode of ['simultaneous', 'sequential'] as const) {
      const backbone = tinyBackbone();
      const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost()], mode });
      const batch = randomBatch();
      expect(tensorsLeftBySteps(trainer, batch, 3)).toBe(0);
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
    }
  });

  it('end-to-end training is the K = 1 case and lowers the loss', async () => {
    const backbone = tinyBackbone({ seed: 5 });
    const trainer = new LocalTrainer({ backbone, optimizer: { learningRate: 0.05 } });
    const batch = randomBatch({ size: 12 });
    const first = (await trainer.step(batch).read()).loss;
    let last = first;
    for (let i = 0; i < 15; i++) last = (await trainer.step(batch).read()).loss;
    expect(last).toBeLessThan(first * 0.7);
    const direct = tf.tidy(() => crossEntropy(backbone.apply(batch.inputs, { ...TRAIN, updateStatistics: false }), batch.labels).dataSync()[0]!);
    expect(Number.isFinite(direct)).toBe(true);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('sequential mode steps each module right after its loss', () => {
    const backbone = tinyBackbone({ seed: 6 });
    const batch = randomBatch();
    const trainer = new LocalTrainer({ backbone, cuts: CUTS, plugins: [linearHeadHost()], mode: 'sequential' });
    const before = new Map(trainer.namedParameters().map(([n, v]) => [n, v.dataSync().slice()]));
    trainer.step(batch).dispose();
    for (const [n, v] of trainer.namedParameters()) {
      expect(Array.from(v.dataSync()), n).not.toEqual(Array.from(before.get(n)!));
    }
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });
});

describe('activation schedules', () => {
  // Four one-block modules; every module trains with its own loss and a 3-module cascade, as MLM.
  const cuts = [[0, 0], [1, 0], [1, 1]] as const;
  const cascades = (terms: LossTerm[]) => [
    ...terms.map((t) => ({ ...t, weight: 0.3 })),
    ...terms.map((t) => ({ name: `cascade${t.span[1]}`, span: [Math.max(0, t.span[1] - 2), t.span[1]] as const, role: 'cascade' as const, weight: 0.7 })),
  ];
  const make = (activations: ActivationPolicy) => {
    const backbone = tinyBackbone({ seed: 9 });
    const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost({ terms: cascades })], activations, optimizer: { learningRate: 0.1, momentum: 0.9 } });
    return { backbone, trainer };
  };

  it.each(['window', 'sweep'] as const)('%s gives the losses, gradients and running statistics of keep', async (schedule) => {
    const keep = make('keep');
    const recompute = make(schedule);
    expect([keep.trainer.schedule, recompute.trainer.schedule]).toEqual(['keep', schedule]);
    expect(recompute.trainer.activations).toBe('recompute');
    const batch = randomBatch({ seed: 5 });
    const a = keep.trainer.computeGradients(batch);
    const b = recompute.trainer.computeGradients(batch);
    // The forwards are the same kernels on the same inputs: identical losses.
    expect((await b.result.read()).losses).toEqual((await a.result.read()).losses);
    expect([...b.gradients.keys()].sort()).toEqual([...a.gradients.keys()].sort());
    for (const [name, g] of a.gradients) {
      const other = b.gradients.get(name)!;
      const scale = Math.max(tf.max(tf.abs(g)).dataSync()[0]!, 1e-12);
      // Only the order in which cotangents are summed differs.
      expect(tf.max(tf.abs(tf.sub(g, other))).dataSync()[0]! / scale, name).toBeLessThan(1e-6);
    }
    for (const g of [...a.gradients.values(), ...b.gradients.values()]) g.dispose();
    // One step each: the re-run forwards must not advance batch-norm statistics again.
    keep.trainer.step(batch).dispose();
    recompute.trainer.step(batch).dispose();
    const buffers = new Map(recompute.backbone.namedBuffers());
    for (const [name, v] of keep.backbone.namedBuffers()) expect(Array.from(buffers.get(name)!.dataSync()), name).toEqual(Array.from(v.dataSync()));
    disposeBatch(batch);
    for (const { trainer, backbone } of [keep, recompute]) {
      trainer.dispose();
      backbone.dispose();
    }
  });

  it("sweep over a range that ends before the model holds that range's outputs, not a traced module, while the last module's heads run", () => {
    // A pipeline stage runs its last module's heads and then waits for the stage after; a traced
    // forward kept meanwhile made the first stage of InfoPro + MLAAN K = 8 hold more than the
    // whole sequential step (its heads are large and its modules at full resolution).
    const bytesAtHeadsOfModuleOne = (drive: (trainer: LocalTrainer, batch: ReturnType<typeof randomBatch>) => void) => {
      const backbone = tinyBackbone({ seed: 9 });
      let before = 0;
      let atHeads = 0;
      const recorder: LocalLearningPlugin = {
        name: 'memory-at-heads',
        enforce: 'post',
        wrapHead: (head, request) =>
          request.moduleIndex !== 1
            ? head
            : { ...head, loss: (features, batch, context) => ((atHeads = Math.max(atHeads, tf.memory().numBytes - before)), head.loss(features, batch, context)) },
      };
      const trainer = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost({ terms: cascades }), recorder], activations: 'sweep' });
      const batch = randomBatch({ seed: 5 });
      before = tf.memory().numBytes;
      drive(trainer, batch);
      disposeBatch(batch);
      trainer.dispose();
      backbone.dispose();
      return atHeads;
    };
    const whole = bytesAtHeadsOfModuleOne((trainer, batch) => trainer.step(batch).dispose());
    const firstTwo = bytesAtHeadsOfModuleOne((trainer, batch) => {
      const step = trainer.beginStep(batch, { first: 0, end: 2 });
      for (let next = step.schedule.next(); !next.done; ) {
        const request = next.value;
        if (request.kind === 'output') request.output.dispose();
        next = step.schedule.next(request.kind === 'incoming' ? [] : undefined);
      }
      trainer.completeStep(step).dispose();
    });
    expect(whole).toBeGreaterThan(0);
    expect(firstTwo).toBeLessThanOrEqual(whole);
  });

  it('window drops a module that owes only its weight gradient (the first of each 3-module window)', () => {
    const { backbone, trainer } = make('window');
    // Module 1 owes only its weight gradient from step 3 (cascade 3 spans 1..3); module 0 from step
    // 1, as every window clipped at the front starts at it; modules 2 and 3 stay to the end.
    expect(trainer.plan.parkAt).toEqual([1, 3, -1, -1]);
    trainer.dispose();
    backbone.dispose();
  });

  it.each(['window', 'sweep'] as const)('%s leaks no tensors across steps', (schedule) => {
    const { backbone, trainer } = make(schedule);
    const batch = randomBatch({ seed: 6 });
    expect(tensorsLeftBySteps(trainer, batch)).toBe(0);
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('auto keeps activations when no loss spans several modules, recomputes otherwise, and checks the option', () => {
    const backbone = tinyBackbone();
    const plain = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost()] });
    expect([plain.activations, plain.schedule]).toEqual(['keep', 'keep']);
    plain.dispose();
    const withCascades = new LocalTrainer({ backbone, cuts, plugins: [linearHeadHost({ terms: cascades })] });
    expect(withCascades.activations).toBe('recompute');
    expect(['window', 'sweep']).toContain(withCascades.schedule);
    withCascades.dispose();
    expect(() => new LocalTrainer({ backbone, cuts, activations: 'sometimes' as ActivationPolicy })).toThrow(`new LocalTrainer(): activations must be one of 'keep', 'recompute', 'auto', 'window', 'sweep'; got "sometimes".`);
    expect(() => new LocalTrainer({ backbone, cuts, mode: 'sequential', activations: 'recompute' })).toThrow(ConfigError);
    backbone.dispose();
  });
});

describe('batches the trainer is given', () => {
  it.each([
    [[0, 1, 2, 10], 'float32', /label 10 at index 3/],
    [[0, 1, 2, -1], 'int32', /label -1 at index 3/],
    [[0, 1, 2, 2.7], 'float32', /label 2.7 at index 3/],
  ] as const)('rejects labels %j (%s) outside the integers 0..classes-1, naming value and index, and changes nothing', async (labels, dtype, message) => {
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({ backbone });
    const batch = { inputs: tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D, labels: tf.tensor1d([...labels], dtype) };
    const before = variableValues(trainer);
    const read = trainer.step(batch).read();
    await expect(read).rejects.toThrow(ShapeError);
    await expect(read).rejects.toThrow(message);
    await expect(read).rejects.toThrow(/integers in \[0, 3\)/);
    await expect(read).rejects.toThrow(/Step 0 was skipped/);
    const after = variableValues(trainer);
    // An undone first step may leave momentum buffers, at zeros (no momentum yet).
    for (const [name, values] of Object.entries(after)) expect(values, name).toEqual(before[name] ?? values.map(() => 0));
    disposeBatch(batch);
    trainer.dispose();
    backbone.dispose();
  });

  it('evaluate() disposes every batch it consumes: no tensor outlives the call', async () => {
    const backbone = tinyBackbone();
    const trainer = new LocalTrainer({ backbone });
    function* batches() {
      for (let seed = 0; seed < 3; seed++) yield randomBatch({ size: 4, seed });
    }
    await trainer.evaluate(batches()); // warm-up: lazy kernel state
    let count = 0;
    expect(await tensorsLeftBy(async () => ({ count } = await trainer.evaluate(batches())))).toBe(0);
    expect(count).toBe(12);
    trainer.dispose();
    backbone.dispose();
  });

  it('says which plugin to add when no plugin makes a head', () => {
    const backbone = tinyBackbone();
    expect(() => new LocalTrainer({ backbone, cuts: CUTS })).toThrow(
      "No plugin makes the 'independent' head of module 0 (only the last module has a default head, the backbone's classifier). Add a host plugin to `plugins`",
    );
    backbone.dispose();
  });
});

/** Every variable's values and every momentum buffer's, by name, as plain arrays. */
function variableValues(trainer: LocalTrainer): Record<string, number[]> {
  const values: Record<string, number[]> = {};
  for (const [name, v] of [...trainer.namedParameters(), ...trainer.namedBuffers()]) values[name] = Array.from(v.dataSync());
  const names = new Map(trainer.namedParameters().map(([name, v]) => [v, name]));
  for (const [v, buffer] of trainer.optimizer.state()) values[`momentum:${names.get(v)}`] = Array.from(buffer.dataSync());
  return values;
}
