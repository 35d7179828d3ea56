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
 * `steps` timed steps, then one profiled step for the peak tensor bytes (weights, optimizer state
 * and everything a step allocates; the E2E row is the reference the local rows must stay under).
 * The configurations of one K run back to back so that load from other processes hits them alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  crossEntropy,
  getSplit,
  GlobalAveragePool,
  Linear,
  LocalLearningPlugin,
  LocalTrainer,
  measureMemory,
  prefixed,
  SeededRandom,
  selectBackend,
  Sequential,
  ThroughputMeter,
  type BackendChoice,
} from '@mlaan/core';
import { dgl } from '@mlaan/dgl';
import { infoPro, MLAAN_LAMBDA } from '@mlaan/infopro';
import { lam, mlm, withMLAAN } from '@mlaan/mlaan';
import { resnet32 } from '@mlaan/models';

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

/** GAP + Linear + cross-entropy heads sized from `request.input` (what `dgl({ head: 'linear' })` builds). */
function linearHost(): LocalLearningPlugin {
  const random = new SeededRandom(21);
  return {
    name: 'linear-host',
    createHead(request, context) {
      if (request.isLast) return undefined;
      const name = `head.${request.moduleIndex}.${request.role}`;
      const network = new Sequential([
        ['', new GlobalAveragePool()],
        ['fc', new Linear({ inFeatures: request.input.channels, outFeatures: context.classes, random })],
      ]);
      return {
        name,
        namedParameters: () => prefixed(name, network.namedParameters()),
        loss: (features, batch, ctx) => tf.tidy(() => crossEntropy(network.apply(features, ctx), batch.labels)),
        dispose: () => network.dispose(),
      };
    },
  };
}

/** Hosts by name: the plugin that creates the independent (and cascaded) heads. */
const HOSTS: Record<string, { description: string; make: () => LocalLearningPlugin }> = {
  linear: { description: 'GAP + Linear heads (the fixture\'s heads: the cheapest host)', make: linearHost },
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
  meanStepMs: number;
  medianStepMs: number;
  stepsTimed: number;
  peakTensorMiB: number;
  baselineTensorMiB: number;
  parametersMiB: number;
  leakedTensors: number;
  loadAverage: number;
}

async function measure(host: string, configuration: string, K: number, plugins: LocalLearningPlugin[]): Promise<Row> {
  const backbone = resnet32({ seed: 0 });
  const cuts = K === 1 ? [] : getSplit({ net: 'resnet32', K });
  const trainer = new LocalTrainer({ backbone, cuts, plugins, optimizer: { learningRate: 0.1 } });
  const meter = new ThroughputMeter(1);
  for (let i = 0; i < steps + 1; i++) {
    meter.start();
    trainer.step(batch);
    const ms = meter.stop(batchSize);
    console.error(`${host} ${configuration} K=${K} step ${i}: ${ms.toFixed(0)} ms`);
  }
  const tensorsBefore = tf.memory().numTensors;
  const { memory } = await measureMemory(() => trainer.step(batch));
  const parameterBytes = trainer.namedParameters().reduce((sum, [, v]) => sum + v.size * 4, 0);
  const summary = meter.summary();
  const row: Row = {
    host,
    configuration,
    K,
    meanStepMs: Math.round(summary.meanStepMs),
    medianStepMs: Math.round(summary.medianStepMs),
    stepsTimed: summary.steps,
    peakTensorMiB: +(memory.peakTensorBytes / 2 ** 20).toFixed(1),
    baselineTensorMiB: +(memory.baselineTensorBytes / 2 ** 20).toFixed(1),
    parametersMiB: +(parameterBytes / 2 ** 20).toFixed(2),
    leakedTensors: tf.memory().numTensors - tensorsBefore,
    loadAverage: +loadavg()[0]!.toFixed(2),
  };
  console.log(JSON.stringify(row));
  trainer.dispose();
  backbone.dispose();
  return row;
}

const rows: Row[] = [];
rows.push(await measure('none', 'e2e', 1, []));
for (const K of ks) {
  for (const host of values.hosts!.split(',')) {
    const spec = HOSTS[host];
    if (!spec) throw new Error(`Unknown host '${host}'. Known: ${Object.keys(HOSTS).join(', ')}.`);
    for (const [configuration, addons] of Object.entries(ADDONS)) rows.push(await measure(host, configuration, K, [spec.make(), ...addons()]));
  }
}

/** host + X over host at the same K, and peak memory against E2E. */
const e2e = rows[0]!;
const ratios = rows
  .filter((r) => r.configuration !== 'host' && r.configuration !== 'e2e')
  .map((r) => {
    const base = rows.find((b) => b.host === r.host && b.K === r.K && b.configuration === 'host')!;
    return {
      host: r.host,
      configuration: r.configuration,
      K: r.K,
      stepTimeOverHost: +(r.medianStepMs / base.medianStepMs).toFixed(2),
      peakMemoryOverE2E: +(r.peakTensorMiB / e2e.peakTensorMiB).toFixed(2),
      withinTimeTarget: r.configuration !== 'host+mlaan' || r.medianStepMs <= 2 * base.medianStepMs,
      belowE2EMemory: r.peakTensorMiB < e2e.peakTensorMiB,
    };
  });
for (const r of ratios) console.log(JSON.stringify(r));

const machine = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
  platform: `${platform()} ${release()}`,
  node: process.version,
  tfjs: tf.version_core,
  backend: selected.tfjsBackend,
  backendDescription: selected.description,
  note: 'Shared machine: other processes ran alongside; loadAverage is recorded per row.',
  date: new Date().toISOString(),
};
const command = `npx tsx benchmarks/mlaan-cost.ts --backend ${values.backend} --batch ${batchSize} --steps ${steps} --ks ${values.ks} --hosts ${values.hosts}`;
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(
  values.out!,
  JSON.stringify({ benchmark: 'mlaan-cost-resnet32', command, machine, hosts: Object.fromEntries(Object.entries(HOSTS).map(([k, v]) => [k, v.description])), rows, ratios }, null, 2),
);
console.log(`wrote ${values.out}`);
batch.inputs.dispose();
batch.labels.dispose();
