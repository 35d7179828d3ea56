/**
 * What MLM, LAM and MLAAN cost on top of a local-learning host: step time and peak tensor memory
 * of host, host + MLM, host + LAM, host + MLAAN (paper profile) for ResNet-32 at K = 4, 8, 16,
 * against end-to-end training of the same network.
 *
 *   npx tsx benchmarks/mlaan-cost.ts [--backend wasm] [--batch 128] [--steps 2] [--ks 4,8,16]
 *                                    [--hosts linear,dgl-linear,dgl-mlaan,infopro] [--out ...]
 *
 * Writes benchmarks/results/mlaan-cost.json (or --out) with the machine's description. Random
 * data: the step cost does not depend on pixel values. Each configuration runs one warm-up step,
 * `steps` timed rounds, then one profiled step for the peak tensor bytes (weights, optimizer state
 * and everything a step allocates; the E2E row is the reference the local rows must stay under).
 * E2E, host, host + MLM, host + LAM and host + MLAAN of one K step round-robin, so that load from
 * other processes (this machine is shared) falls on all of them alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ActivationPolicy,
  ActivationSchedule,
  getSplit,
  LocalLearningPlugin,
  LocalTrainer,
  measureMemory,
  selectBackend,
  ThroughputMeter,
  type BackendChoice,
} from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { lam, mlm, withMLAAN } from '@mlaan/mlaan';
import { resnet32 } from '@mlaan/models';
import { countMultiplyAdds, type KernelShapes } from './lib/multiply-adds.js';
import { describeMachine, writeResults } from './lib/results.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '2' },
    ks: { type: 'string', default: '4,8,16' },
    hosts: { type: 'string', default: 'linear' },
    out: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), 'results', 'mlaan-cost.json') },
  },
});
const batchSize = Number(values.batch);
const steps = Number(values.steps);
const ks = values.ks!.split(',').map(Number);

/** Hosts by name: the plugin that creates the independent (and cascaded) heads. */
const HOSTS: Record<string, { description: string; make: () => LocalLearningPlugin }> = {
  linear: { description: 'GAP + Linear heads (the fixture\'s heads: the cheapest host)', make: () => dgl({ head: 'linear' }) },
  'dgl-linear': { description: 'DGL with GAP + Linear heads', make: () => dgl({ head: 'linear' }) },
  'dgl-mlaan': {
    description: "DGL with the MLAAN authors' head (3 conv1x1-128, GAP, 3 Linear-512)",
    make: () => dgl({ head: 'mlaan' }),
  },
  infopro: {
    description: 'InfoPro, decoder + 1c2f cross-entropy head, λ = (5, 0.5, 0, 0) as the MLAAN runs',
    make: () => infoPro({ lambda: MLAAN_LAMBDA, task: 'cross-entropy' }),
  },
};

const ADDONS: Record<string, () => LocalLearningPlugin[]> = {
  host: () => [],
  'host+mlm': () => [mlm()],
  'host+lam': () => [lam()],
  'host+mlaan': () => withMLAAN(),
};

/**
 * Every configuration runs with the trainer's default (`activations: 'auto'`); host + MLAAN also
 * runs with each schedule pinned (`keep`: nothing recomputed; `window` and `sweep`: one more
 * forward per module), so that the time and memory `auto` traded are on record.
 */
const SCHEDULES: Record<string, ActivationPolicy> = { '': 'auto', ':keep': 'keep', ':window': 'window', ':sweep': 'sweep' };

const selected = await selectBackend(values.backend as BackendChoice, { log: (m) => console.error(m) });
const normalization = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
const batch = {
  inputs: tf.randomNormal([batchSize, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D,
  labels: tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 10), 'int32'),
  normalization,
};

interface Row {
  host: string;
  configuration: string;
  K: number;
  /** The activation schedule the trainer ran (`auto` resolved). */
  schedule: ActivationSchedule;
  meanStepMs: number;
  medianStepMs: number;
  stepsTimed: number;
  /** This trainer's state (variables, momentum buffers) plus the most its step allocates on top. */
  peakTensorMiB: number;
  stepAllocationMiB: number;
  stateMiB: number;
  parametersMiB: number;
  leakedTensors: number;
  /** Convolution and matrix-product multiply-adds one step executes, per image (from the kernel profile). */
  gigaMultiplyAddsPerImage: number;
  loadAverage: number;
}

interface Candidate {
  host: string;
  configuration: string;
  K: number;
  trainer: LocalTrainer;
  backbone: ReturnType<typeof resnet32>;
  times: number[];
  loads: number[];
}

function candidate(host: string, configuration: string, K: number, plugins: LocalLearningPlugin[], activations: ActivationPolicy = 'auto'): Candidate {
  const backbone = resnet32({ seed: 0 });
  const cuts = K === 1 ? [] : getSplit({ net: 'resnet32', K });
  const trainer = new LocalTrainer({ backbone, cuts, plugins, optimizer: { learningRate: 0.1 }, activations });
  return { host, configuration, K, trainer, backbone, times: [], loads: [] };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};

/**
 * Time the candidates round-robin (one step each per round, after a warm-up round), so that the
 * load of other processes falls on all of them alike, then profile one step of each for memory.
 */
async function measureGroup(group: Candidate[]): Promise<Row[]> {
  for (let round = 0; round <= steps; round++) {
    for (const c of group) {
      const meter = new ThroughputMeter(0);
      meter.start();
      c.trainer.step(batch).dispose();
      const ms = meter.stop(batchSize);
      console.error(`${c.host} ${c.configuration} K=${c.K} round ${round}: ${ms.toFixed(0)} ms`);
      if (round > 0) {
        c.times.push(ms);
        c.loads.push(loadavg()[0]!);
      }
    }
  }
  const rows: Row[] = [];
  for (const c of group) {
    const tensorsBefore = tf.memory().numTensors;
    const { result: stepped, memory, kernels } = await measureMemory(() => c.trainer.step(batch));
    stepped.dispose();
    const multiplyAdds = countMultiplyAdds(kernels as unknown as KernelShapes[]);
    const parameterBytes = c.trainer.namedParameters().reduce((sum, [, v]) => sum + v.size * 4, 0);
    // The trainers of a group coexist, so the profile's baseline holds all of them: count this
    // trainer's own state (variables, momentum) plus what its step allocates on top.
    const stateBytes =
      parameterBytes +
      c.trainer.namedBuffers().reduce((sum, [, v]) => sum + v.size * 4, 0) +
      [...c.trainer.optimizer.state().values()].reduce((sum, v) => sum + v.size * 4, 0);
    // Distinct data buffers: tfjs's own count charges every shared clone of an activation again.
    const stepBytes = memory.peakBufferAllocationBytes;
    const row: Row = {
      host: c.host,
      configuration: c.configuration,
      K: c.K,
      schedule: c.trainer.schedule,
      meanStepMs: Math.round(c.times.reduce((a, b) => a + b, 0) / c.times.length),
      medianStepMs: Math.round(median(c.times)),
      stepsTimed: c.times.length,
      peakTensorMiB: +((stateBytes + stepBytes) / 2 ** 20).toFixed(1),
      stepAllocationMiB: +(stepBytes / 2 ** 20).toFixed(1),
      stateMiB: +(stateBytes / 2 ** 20).toFixed(1),
      parametersMiB: +(parameterBytes / 2 ** 20).toFixed(2),
      leakedTensors: tf.memory().numTensors - tensorsBefore,
      gigaMultiplyAddsPerImage: +(multiplyAdds / batchSize / 1e9).toFixed(3),
      loadAverage: +(c.loads.reduce((a, b) => a + b, 0) / c.loads.length).toFixed(2),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
    c.trainer.dispose();
    c.backbone.dispose();
  }
  return rows;
}

const rows: Row[] = [];
for (const K of ks) {
  for (const host of values.hosts!.split(',')) {
    const spec = HOSTS[host];
    if (!spec) throw new Error(`Unknown host '${host}'. Known: ${Object.keys(HOSTS).join(', ')}.`);
    // E2E rides along in every group as the common yardstick.
    const group = [candidate('none', 'e2e', 1, [])];
    for (const [configuration, addons] of Object.entries(ADDONS)) {
      const schedules = configuration === 'host+mlaan' ? Object.entries(SCHEDULES) : [['', 'auto'] as const];
      for (const [suffix, activations] of schedules) group.push(candidate(host, configuration + suffix, K, [spec.make(), ...addons()], activations));
    }
    const measured = await measureGroup(group);
    for (const row of measured) if (row.configuration !== 'e2e') rows.push(row);
    rows.push({ ...measured[0]!, configuration: `e2e (with K=${K} ${host})` });
  }
}

/** host + X over host at the same K, and peak memory against E2E (timed in the same rounds). */
const ratios = rows
  .filter((r) => r.configuration !== 'host' && !r.configuration.startsWith('e2e'))
  .map((r) => {
    const base = rows.find((b) => b.host === r.host && b.K === r.K && b.configuration === 'host')!;
    const e2e = rows.find((b) => b.configuration === `e2e (with K=${r.K} ${r.host})`)!;
    return {
      host: r.host,
      configuration: r.configuration,
      K: r.K,
      stepTimeOverHost: +(r.medianStepMs / base.medianStepMs).toFixed(2),
      multiplyAddsOverHost: +(r.gigaMultiplyAddsPerImage / base.gigaMultiplyAddsPerImage).toFixed(2),
      stepTimeOverE2E: +(r.medianStepMs / e2e.medianStepMs).toFixed(2),
      hostOverE2E: +(base.medianStepMs / e2e.medianStepMs).toFixed(2),
      peakMemoryOverE2E: +(r.peakTensorMiB / e2e.peakTensorMiB).toFixed(2),
      withinTimeTarget: !r.configuration.startsWith('host+mlaan') || r.medianStepMs <= 2 * base.medianStepMs,
      belowE2EMemory: r.peakTensorMiB < e2e.peakTensorMiB,
    };
  });
for (const r of ratios) console.log(JSON.stringify(r));

const machine = describeMachine({
  backend: selected.tfjsBackend,
  backendDescription: selected.description,
  note: 'Shared machine: other processes ran alongside; loadAverage is recorded per row.',
});
const command = `npx tsx benchmarks/mlaan-cost.ts --backend ${values.backend} --batch ${batchSize} --steps ${steps} --ks ${values.ks} --hosts ${values.hosts}`;
writeResults(values.out!, {
  benchmark: 'mlaan-cost-resnet32',
  command,
  machine,
  hosts: Object.fromEntries(Object.entries(HOSTS).map(([k, v]) => [k, v.description])),
  rows,
  ratios,
});
batch.inputs.dispose();
batch.labels.dispose();
