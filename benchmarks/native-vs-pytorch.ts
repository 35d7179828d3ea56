/**
 * Ours against PyTorch on the same CPU, in one run: ResNet-32 training images/s and peak memory
 * for E2E, InfoPro K = 4 and MLAAN K = 8 (GAP + Linear host, and InfoPro host), against
 * - for E2E, the fastest PyTorch program of the same network in this run: our own PyTorch
 *   ResNet-32 (benchmarks/pytorch/resnet32_train.py) as written (out-of-place ReLUs and residual
 *   sum), with ReLUs and the sum in place (`--inplace`, as the authors' BasicBlock), in place and
 *   channels-last, and in place with glibc keeping freed memory (as our backend does), and the
 *   authors' own E2E network: target ours >= 1.3x the fastest;
 * - the MLAAN authors' own code (github Wendy231015/MLAAN, CIFAR-SVHN-STL) for every configuration,
 *   when `--authors-code DIR` points at it (benchmarks/pytorch/authors_step_time.py): target ours
 *   >= 2x on every MLAAN configuration.
 *
 * Every row also gets its GFLOP/s and the fraction of the machine's limit that is: the FLOPs are
 * the multiply-adds (x2) of every convolution and matrix product one step of ours runs, heads and
 * auxiliary networks included (counted from a profiled step), and the limit is the peak of
 * independent 512-bit and 256-bit FMA chains on the same threads, measured by the onednn addon's
 * probe in this run (before, between and after the configurations; the highest is the limit). A
 * PyTorch row is credited with the FLOPs of ours for the same configuration: the same network for
 * E2E; for the authors' MLAAN files the method's arithmetic, which their code exceeds (it
 * re-forwards modules per cascade window).
 *
 *   npx tsx benchmarks/native-vs-pytorch.ts [--backends onednn,wasm] [--batch 128] [--steps 10]
 *       [--warmup 2] [--threads 2] [--authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL]
 *       [--python /usr/bin/python3] [--configurations e2e,infopro-k4,...] [--out ...]
 *       [--device cpu|cuda] [--profile-kernels 15]
 *
 * On a GPU: `--backends webgpu --device cuda` times ours on WebGPU beside PyTorch on CUDA on the
 * same GPU (the offline GPU bundle, scripts/gpu-bundle.mjs, runs it that way); every worker of
 * ours also reports the kernels its profiled step spent its time in (GPU time on webgpu).
 *
 * Installs nothing. The PyTorch side needs a Python with torch (Debian: `apt-get install -y
 * python3-torch`, which is /usr/bin/python3's); the authors' code is read from the folder given,
 * never copied here.
 *
 * Every participant (ours per backend, the PyTorch scripts) is its own process, so its peak
 * resident memory is its own: a worker that builds one configuration, then takes one training step
 * each time it is told to (the protocol of benchmarks/pytorch/step_protocol.py). The configurations
 * that are compared run side by side and step in turn (the order reversed every round), so load
 * from other processes falls on ours and theirs alike. Random data (the step cost does not depend
 * on pixel values): uniform [0, 1] images normalised with the CIFAR-10 mean and std, labels i mod 10.
 *
 * Writes benchmarks/results/native-vs-pytorch.json (or --out): every row, the ratios, what each
 * configuration matches in the authors' code and what still differs, the command, the machine.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ActivationPolicy,
  getSplit,
  LocalLearningPlugin,
  LocalTrainer,
  measureMemory,
  selectBackend,
  type Batch,
  type BackendChoice,
} from '@mlaan/core';
import { resnet32 } from '@mlaan/models';
import { CONFIGURATIONS } from './lib/configurations.js';
import { cpuVectorFlags, measureMachineLimits, measureMachineLimitsIfPossible, type MachineLimits } from './lib/machine-limits.js';
import { countMultiplyAdds, type KernelShapes } from './lib/multiply-adds.js';
import { describeMachine, writeResults } from './lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const PROTOCOL_PREFIX = '@@bench ';
const CIFAR10_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255];
const CIFAR10_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255];

/** A configuration of ours, and the authors' configuration (authors_step_time.py) it is matched with. */
interface OursConfiguration {
  K: number;
  description: string;
  plugins: () => LocalLearningPlugin[];
  authors: string;
  /** An MLAAN configuration: the target is at least MLAAN_TARGET times the authors' code. */
  mlaan: boolean;
  /** E2E: against every PyTorch program of the same network (resnet32_train.py and its variants); the target is on the fastest. */
  sameArchitecturePyTorch?: boolean;
  /** What is the same as the authors' configuration. */
  matched: string[];
  /** What still differs from it, and why it stays. */
  differences: string[];
}

const THEIR_UNUSED_HEADS =
  "Their constructor creates a head for every (stage, block) and, in the MLAAN files, for every one of 55 possible module indices (resnetMLAAN: 825 GAP + Linear heads; resnetInfoProbin: 825 decoder + 1c2f head pairs); the unused ones never get a gradient (SGD skips them) but count in their process's memory (their row's parameters against trainedParameters).";
const REFORWARD =
  'Their forward recomputes every module once per cascade window that contains it (kc forwards per module per step); ours forwards each module once and walks every loss back through the saved activations. Same losses and gradients (the parity fixtures check this), fewer forwards: an implementation difference, not a configuration one.';

const OURS: Record<string, OursConfiguration> = {
  e2e: {
    K: 1,
    description: 'End-to-end ResNet-32: cross-entropy on the backbone classifier, one backward.',
    plugins: CONFIGURATIONS.e2e!.plugins,
    authors: 'e2e',
    mlaan: false,
    sameArchitecturePyTorch: true,
    matched: [
      'ResNet-32 of METHOD §1 (conv1x1 + BN shortcuts; 466,906 parameters) in all three',
      'SGD with Nesterov momentum 0.9 and weight decay 1e-4, the same lr, cross-entropy, batch, threads',
    ],
    differences: [
      'Layout: ours NHWC; PyTorch NCHW (its default, as the authors run it).',
      'Initial weights: the same distributions, different random draws (no effect on the step time).',
      "Authors' E2E (networks.resnetMLAAN with local_module_num=1, as train.py trains it): a Dropout(p=0) call per block, and the unused heads of that class. " +
        THEIR_UNUSED_HEADS,
    ],
  },
  'infopro-k4': {
    K: 4,
    description: "InfoPro K=4: decoder + 1c2f supervised-contrastive head (128-d, τ 0.07), λ (6, 0, 1, 2) (the paper's preset).",
    plugins: CONFIGURATIONS['infopro-k4']!.plugins,
    authors: 'infopro-k4',
    mlaan: false,
    matched: [
      'networks/resnetInfoPro.py with local_module_num=4: cuts [1,2] [2,1] [3,0], the same decoder and 1c2f contrastive heads, feature 128, temperature 0.07, λ (6, 0, 1, 2), last module fc + CE',
    ],
    differences: [
      'BCE: ours takes the decoder logits (sigmoid folded into the loss); theirs Sigmoid then BCELoss. Same value, one op fewer.',
      'Layout: ours NHWC; theirs NCHW.',
    ],
  },
  'dgl-k8': {
    K: 8,
    description: "DGL K=8 with GAP + Linear cross-entropy heads (dgl({ head: 'linear' })), the host of the authors' MLAAN file without MLAAN.",
    plugins: CONFIGURATIONS['dgl-k8']!.plugins,
    authors: 'dgl-k8',
    mlaan: false,
    matched: [
      "networks/resnetDGL.py with local_module_num=8 and the 0c1f auxiliary net (GAP + Linear, cross-entropy): cuts of METHOD §2, each of modules 0-6 trained by its own head on the next module's detached input, the last module fc + CE, one SGD step over every local gradient",
    ],
    differences: [THEIR_UNUSED_HEADS, 'Layout: ours NHWC; theirs NCHW.'],
  },
  'mlaan-k8': {
    K: 8,
    description:
      "MLAAN K=8 as the authors' train.py runs it: GAP + Linear cross-entropy heads (dgl({ head: 'linear' })), withMLAAN({ profile: 'reference' }): kc = 2, the first cascade from the stem, only the last leap net's EMA, last loss = cascaded CE.",
    plugins: CONFIGURATIONS['mlaan-k8']!.plugins,
    authors: 'mlaan-k8',
    mlaan: true,
    matched: [
      "networks/resnetMLAAN.py with local_module_num=8 (train.py's hard-coded model; run32-cifar10.txt's arguments, EMA momentum 0.995): cuts of METHOD §2, auxMLAAN.AuxClassifier heads (GAP + Linear, CE) on both branches, wx 0.001 / wy 0.999, cascades of 2 modules, leap lists of configAuxPlus_new.py with the EMA twin on their first block, only the last twin updated, running statistics advanced once per forward (as their repeated forwards do)",
      "run32-cifar10.txt's λ, 1c2f and cross_entropy flags: resnetMLAAN.py ignores them (it has no decoder and builds its own GAP + Linear heads), so ours has none either",
    ],
    differences: [REFORWARD, THEIR_UNUSED_HEADS, 'Layout: ours NHWC; theirs NCHW.'],
  },
  'infopro+mlaan-k8': {
    K: 8,
    description:
      "InfoPro + MLAAN K=8 matched to the authors' resnetInfoProbin.py: infoPro({ lambda: (5, 0.5, 0, 0), task: 'cross-entropy' }) + withMLAAN({ profile: 'reference', cascadeWindow: 3 }).",
    plugins: CONFIGURATIONS['infopro+mlaan-k8']!.plugins,
    authors: 'infopro+mlaan-k8',
    mlaan: true,
    matched: [
      "networks/resnetInfoProbin.py with local_module_num=8 and run32-cifar10.txt's flags (cross_entropy, 1c2f, feature 128, λ (5, 0.5, 0, 0), EMA momentum 0.995): InfoPro decoder + 1c2f head on the independent branch and a separate decoder + 1c2f head on the cascaded branch after the leap net, wx 0.001 / wy 0.999, cascades of 3 modules from the stem (modules 0 and 1 only trained through later cascades), last loss = cascaded CE, only the last twin's EMA, leap lists of configAuxPlus_new.py",
    ],
    differences: [
      "Independent-branch task loss: theirs builds x_classifier with AuxClassifier's default loss_mode 'contrast' (SupCon, 128-d output) whatever --local_loss_mode says; ours uses cross-entropy on both branches (one task per host). The 1c2f convolution and first Linear, which dominate, are the same; the last Linear is 128 vs 10 wide.",
      'Leap-net twins: theirs leaves requires_grad on for the EMA copies, so PyTorch computes and SGD applies weight gradients to them every step (their bug: the EMA then mixes with SGD updates); ours keeps the twins frozen (no weight gradients). Theirs does more work here.',
      "These two are the whole of trainedParametersTheirsMinusOurs: the twins' weights of modules 2-6 plus, per contrastive head, a 128-wide instead of a 10-wide last Linear.",
      'λ interpolation: theirs uses the stage index (local_x / (K-2)) as the ratio, ours the module index (METHOD §4). Different weights, same cost.',
      REFORWARD,
      THEIR_UNUSED_HEADS,
      'Layout: ours NHWC; theirs NCHW.',
    ],
  },
  'infopro+mlaan-k8-paper': {
    K: 8,
    description:
      "InfoPro + MLAAN K=8 as the library trains it by default: infoPro({ lambda: (5, 0.5, 0, 0), task: 'cross-entropy' }) + withMLAAN() (paper profile: kc = 3, every module both losses, EMA on every leap net, weighted last loss).",
    plugins: CONFIGURATIONS['infopro+mlaan-k8-paper']!.plugins,
    authors: 'infopro+mlaan-k8',
    mlaan: true,
    matched: ["The same network, heads, λ, kc and leap lists as 'infopro+mlaan-k8'"],
    differences: [
      "Paper profile (METHOD §5) instead of the authors' file's behaviour: modules 0 and 1 get their own independent and (clipped) cascaded losses (their file gives them none), the last module adds the weighted independent loss (one more fc + CE), and every twin follows the EMA (theirs: only the last). More work than theirs.",
      "Everything listed for 'infopro+mlaan-k8'.",
    ],
  },
};

/**
 * PyTorch programs of the E2E network: resnet32_train.py as written and the variants that make it
 * faster. The E2E target is set against the fastest of these and the authors' E2E in the run.
 */
const PYTORCH_E2E_PROGRAMS: { label: string; args: string[]; env?: Record<string, string>; what: string }[] = [
  {
    label: 'resnet32_train.py',
    args: [],
    what: 'as written: F.relu(bn(conv(x))) and F.relu(out + shortcut) make a new activation-sized tensor per ReLU and per sum (NCHW)',
  },
  {
    label: 'resnet32_train.py --inplace',
    args: ['--inplace'],
    what: "ReLUs and the residual sum in place (F.relu_, out += shortcut), as the authors' BasicBlock (nn.ReLU(inplace=True), out += residual): no fresh 8 MiB tensors to page-fault in",
  },
  {
    label: 'resnet32_train.py --inplace --channels-last',
    args: ['--inplace', '--channels-last'],
    what: 'in place, and the channels-last (NHWC) memory format our backend uses',
  },
  {
    label: 'resnet32_train.py --inplace, glibc keeps freed memory',
    args: ['--inplace'],
    env: { MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(1024 * 1024 * 1024) },
    what: 'in place, with the glibc settings our backend applies to itself (allocations up to 32 MiB from the heap, up to 1 GiB of freed heap kept): no page faults for reused memory',
  },
  {
    label: 'resnet32_train.py --inplace, OpenMP threads sleep after 3000 spins',
    args: ['--inplace'],
    env: { GOMP_SPINCOUNT: '3000' },
    what: "in place, with the OpenMP wait our backend sets for itself (GOMP_SPINCOUNT=3000: idle threads sleep after a short spin instead of ~300k spins), which matters when other processes want the cores",
  },
];

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'onednn' },
    configurations: { type: 'string', default: Object.keys(OURS).join(',') },
    'authors-code': { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    // Where the PyTorch side runs: cpu, or cuda beside --backends webgpu on the same GPU.
    device: { type: 'string', default: 'cpu' },
    // Ours: how many kernels (by total time in the profiled step) the finish answer lists.
    'profile-kernels': { type: 'string', default: '15' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    lr: { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '0' },
    // Our trainer's activation policy (default: the trainer's own default, 'auto').
    activations: { type: 'string', default: 'auto' },
    out: { type: 'string', default: join(here, 'results', 'native-vs-pytorch.json') },
    // Internal: run as the worker of one configuration of ours (spawned by this script).
    worker: { type: 'string' },
    backend: { type: 'string', default: 'onednn' },
  },
});

class BenchmarkSetupError extends Error {}

function positiveInteger(name: string, text: string | undefined, allowZero = false): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new BenchmarkSetupError(`--${name} must be an integer >= ${allowZero ? 0 : 1}, got '${text}'.`);
  }
  return value;
}

const batchSize = positiveInteger('batch', values.batch);
const steps = positiveInteger('steps', values.steps);
const warmup = positiveInteger('warmup', values.warmup, true);
const threads = positiveInteger('threads', values.threads);
const learningRate = Number(values.lr);
const seed = positiveInteger('seed', values.seed, true);

// ---------------------------------------------------------------------------------------------
// Worker: one configuration of ours on one backend, stepping on command.

function randomBatch(): Batch {
  return tf.tidy(() => {
    const images01 = tf.randomUniform([batchSize, 32, 32, 3], 0, 1, 'float32', seed + 1);
    const inputs = tf.div(tf.sub(images01, tf.tensor1d(CIFAR10_MEAN)), tf.tensor1d(CIFAR10_STD)) as tf.Tensor4D;
    const labels = tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % 10), 'int32');
    return { inputs, labels, normalization: { mean: CIFAR10_MEAN, std: CIFAR10_STD } } as unknown as tf.TensorContainer;
  }) as unknown as Batch;
}

/**
 * Where a step's time goes, by kernel: the profiled step's kernels summed by name, largest first.
 * On webgpu with a GPU that has timestamp queries the times are the GPU's own (per dispatch); on
 * the CPU backends they are the kernels' wall time.
 */
async function profileByKernel(kernels: { name: string; kernelTimeMs: number | { error: string } | Promise<number | { error: string }> }[], top: number) {
  const byName = new Map<string, { kernel: string; calls: number; ms: number }>();
  let totalMs = 0;
  for (const kernel of kernels) {
    const time = await kernel.kernelTimeMs;
    const ms = typeof time === 'number' ? time : 0;
    totalMs += ms;
    const entry = byName.get(kernel.name) ?? { kernel: kernel.name, calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += ms;
    byName.set(kernel.name, entry);
  }
  const ranked = [...byName.values()].sort((a, b) => b.ms - a.ms);
  return {
    kernelCalls: kernels.length,
    kernelMs: +totalMs.toFixed(2),
    top: ranked.slice(0, top).map((entry) => ({ ...entry, ms: +entry.ms.toFixed(3), share: totalMs > 0 ? +(entry.ms / totalMs).toFixed(3) : 0 })),
  };
}

async function runWorker(name: string): Promise<void> {
  // The protocol owns stdout; route the libraries' console output to stderr.
  const protocolWrite = process.stdout.write.bind(process.stdout);
  console.log = console.error;
  console.info = console.error;
  const answer = (message: Record<string, unknown>) => protocolWrite(`${PROTOCOL_PREFIX}${JSON.stringify(message)}\n`);

  const spec = OURS[name];
  if (!spec) throw new BenchmarkSetupError(`Unknown configuration '${name}'. Known: ${Object.keys(OURS).join(', ')}.`);
  const selected = await selectBackend(values.backend as BackendChoice, { log: (m) => console.error(m), wasmThreads: threads });
  const backbone = resnet32({ seed });
  const cuts = spec.K === 1 ? [] : getSplit({ net: 'resnet32', K: spec.K });
  const trainer = new LocalTrainer({
    backbone,
    cuts,
    plugins: spec.plugins(),
    optimizer: { learningRate, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    activations: values.activations as ActivationPolicy,
    seed,
  });
  const batch = randomBatch();
  const count = (variables: readonly (readonly [string, tf.Variable])[]) => variables.reduce((sum, [, v]) => sum + v.size, 0);
  answer({
    event: 'ready',
    pid: process.pid,
    framework: `tfjs ${tf.version_core}`,
    backend: selected.tfjsBackend,
    backendDescription: selected.description,
    configuration: name,
    K: spec.K,
    cuts,
    terms: trainer.terms.map((t) => `${t.name} [${t.span.join('-')}] x${t.weight}`),
    schedule: trainer.schedule,
    parameters: count(trainer.namedParameters()),
    buffers: count(trainer.namedBuffers()),
    threads,
  });

  let kernelProfile: Awaited<ReturnType<typeof profileByKernel>> | undefined;
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = line.trim();
    if (command === 'step') {
      try {
        const cpuBefore = process.cpuUsage();
        const started = performance.now();
        const { loss } = await trainer.step(batch).read();
        const ms = performance.now() - started;
        const cpu = process.cpuUsage(cpuBefore);
        answer({ event: 'step', ms, cpu_ms: (cpu.user + cpu.system) / 1000, loss });
      } catch (error) {
        answer({ event: 'error', message: (error as Error).stack ?? String(error) });
        throw error;
      }
    } else if (command === 'finish') {
      // One more step under tf.profile: the peak bytes of live tensors (weights, optimizer state,
      // the batch and everything the step allocates).
      const tensorsBefore = tf.memory().numTensors;
      const { result: stepped, memory, kernels } = await measureMemory(() => trainer.step(batch));
      stepped.dispose();
      const leakedTensors = tf.memory().numTensors - tensorsBefore;
      kernelProfile = await profileByKernel(kernels, positiveInteger('profile-kernels', values['profile-kernels'], true));
      answer({
        event: 'finish',
        // Distinct data buffers (state + the step's peak); tfjs's own count charges shared clones again.
        peak_tensor_mib: (memory.baselineTensorBytes + memory.peakBufferAllocationBytes) / 2 ** 20,
        // maxRSS is in KiB: the process's peak resident set, as ru_maxrss on the PyTorch side.
        peak_rss_mib: process.resourceUsage().maxRSS / 1024,
        leaked_tensors: leakedTensors,
        ...(memory.device ? { peak_device_mib: memory.device.peakInUseBytes / 2 ** 20 } : {}),
        kernel_profile: kernelProfile,
        // Convolution and matrix-product multiply-adds of that step, per image.
        multiply_adds_per_image: countMultiplyAdds(kernels as unknown as KernelShapes[]) / batchSize,
      });
      trainer.dispose();
      backbone.dispose();
      tf.dispose([batch.inputs, batch.labels]);
      lines.close();
      break;
    } else if (command) {
      answer({ event: 'error', message: `unknown command '${command}'; expected 'step' or 'finish'` });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Driver: start the workers, alternate their steps, collect the rows.

type Message = { event: string } & Record<string, unknown>;

/** Every worker started and not yet closed: stopped with the driver (Ctrl-C, kill). */
const running = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of running) child.kill();
    process.exit(130);
  });
}

/** One worker process: ours on a backend, our PyTorch ResNet-32, or one of the authors' configurations. */
class Participant {
  readonly samples: Message[] = [];
  readonly loads: number[] = [];
  ready: Message | undefined;
  final: Message | undefined;
  private readonly child: ChildProcess;
  private readonly queue: Message[] = [];
  private readonly waiting: { resolve: (m: Message) => void; reject: (e: Error) => void }[] = [];
  private exited: string | undefined;

  constructor(
    readonly side: 'ours' | 'pytorch-same-architecture' | 'authors',
    readonly configuration: string,
    readonly label: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
    running.add(this.child);
    this.child.on('exit', () => running.delete(this.child));
    this.child.on('error', (error) => this.fail(`${label} could not start (${command}): ${error.message}`));
    this.child.on('exit', (code, signal) => this.fail(`${label} exited (${signal ?? `status ${code}`}); its error is above`));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith(PROTOCOL_PREFIX)) {
        process.stderr.write(`[${label}] ${line}\n`);
        return;
      }
      const message = JSON.parse(line.slice(PROTOCOL_PREFIX.length)) as Message;
      const waiter = this.waiting.shift();
      if (waiter) waiter.resolve(message);
      else this.queue.push(message);
    });
  }

  private fail(reason: string): void {
    this.exited ??= reason;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(reason));
  }

  async receive(): Promise<Message> {
    const message =
      this.queue.shift() ??
      (await new Promise<Message>((resolve, reject) => {
        if (this.exited) reject(new Error(this.exited));
        else this.waiting.push({ resolve, reject });
      }));
    if (message.event === 'error') throw new Error(`${this.label}: ${String(message.message)}`);
    return message;
  }

  async request(command: string): Promise<Message> {
    if (this.exited) throw new Error(this.exited);
    this.child.stdin!.write(`${command}\n`);
    return this.receive();
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    await done;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}

interface Row {
  side: Participant['side'];
  configuration: string;
  label: string;
  framework: string;
  backend?: string;
  code: string;
  K: number;
  batch: number;
  stepsTimed: number;
  imagesPerSecond: number;
  medianStepMs: number;
  meanStepMs: number;
  cpuMsPerStep: number;
  /** Ours: bytes held by live tensors at the peak of a training step. */
  peakTensorMiB?: number;
  /** The worker process's peak resident set (ru_maxrss / maxRSS). */
  peakRssMiB: number;
  parameters: number;
  /** Authors: parameters that ever got a gradient (the rest are unused heads). */
  trainedParameters?: number;
  /** Convolution and matrix-product GFLOP per image: ours counted from its step; PyTorch rows get ours' for the configuration. */
  gflopPerImage?: number;
  achievedGflops?: number;
  /** achievedGflops over the machine's FMA limit measured in this run. */
  fractionOfLimit?: number;
  finalLoss: number;
  loadAverage: number;
  stepMs: number[];
  details: Record<string, unknown>;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
/** Issue 26: E2E at least 1.3x the fastest PyTorch program; every MLAAN configuration at least 2x the authors' code. */
const E2E_TARGET = 1.3;
const MLAAN_TARGET = 2;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function toRow(p: Participant): Row {
  const ms = p.samples.map((s) => Number(s.ms));
  const total = ms.reduce((a, b) => a + b, 0);
  const ready = { ...p.ready! } as Record<string, unknown>;
  for (const key of ['event', 'pid']) delete ready[key];
  const losses = p.samples.map((s) => Number(s.loss));
  return {
    side: p.side,
    configuration: p.configuration,
    label: p.label,
    framework: p.side === 'ours' ? String(ready.framework) : `pytorch ${String(ready.torch)}`,
    backend: p.side === 'ours' ? String(ready.backend) : undefined,
    code:
      p.side === 'ours'
        ? `benchmarks/native-vs-pytorch.ts (${OURS[p.configuration]!.description})`
        : String(ready.code),
    K: p.side === 'ours' ? OURS[p.configuration]!.K : Number(ready.local_module_num ?? 1),
    batch: batchSize,
    stepsTimed: ms.length,
    imagesPerSecond: round1((ms.length * batchSize) / (total / 1000)),
    medianStepMs: round1(median(ms)),
    meanStepMs: round1(total / ms.length),
    cpuMsPerStep: round1(p.samples.reduce((a, s) => a + Number(s.cpu_ms), 0) / ms.length),
    peakTensorMiB: p.final!.peak_tensor_mib === undefined ? undefined : round1(Number(p.final!.peak_tensor_mib)),
    peakRssMiB: round1(Number(p.final!.peak_rss_mib)),
    parameters: Number(ready.parameters),
    trainedParameters: p.final!.trained_parameters === undefined ? undefined : Number(p.final!.trained_parameters),
    gflopPerImage: p.final!.multiply_adds_per_image === undefined ? undefined : +((2 * Number(p.final!.multiply_adds_per_image)) / 1e9).toFixed(4),
    finalLoss: losses[losses.length - 1]!,
    loadAverage: +(p.loads.reduce((a, b) => a + b, 0) / p.loads.length).toFixed(2),
    stepMs: ms.map(round1),
    details: {
      ...ready,
      ...(p.final!.leaked_tensors === undefined ? {} : { leakedTensors: p.final!.leaked_tensors }),
      // The device's memory (ours on webgpu, PyTorch on cuda) and where our step's time goes.
      ...(p.final!.peak_device_mib === undefined ? {} : { peakDeviceMiB: round1(Number(p.final!.peak_device_mib)) }),
      ...(p.final!.peak_cuda_mib === undefined ? {} : { peakCudaMiB: round1(Number(p.final!.peak_cuda_mib)) }),
      ...(p.final!.kernel_profile === undefined ? {} : { kernelProfile: p.final!.kernel_profile }),
    },
  };
}

function checkPython(python: string): { torch: string; python: string } {
  const probe = spawnSync(python, ['-c', 'import platform, torch; print(torch.__version__, platform.python_version())'], {
    encoding: 'utf8',
  });
  if (probe.error) {
    throw new BenchmarkSetupError(
      `Cannot run ${python} (${probe.error.message}). Install Debian's python3-torch (apt-get install -y python3-torch) and pass --python /usr/bin/python3, or --python with a Python that has torch.`,
    );
  }
  if (probe.status !== 0) {
    throw new BenchmarkSetupError(
      `${python} cannot import torch: ${probe.stderr.trim().split('\n').pop()}. Install Debian's python3-torch (apt-get install -y python3-torch) and pass --python /usr/bin/python3 (the pyenv python3 on PATH has no torch).`,
    );
  }
  const [torch, version] = probe.stdout.trim().split(' ');
  return { torch: torch!, python: version! };
}

function checkAuthorsCode(dir: string): string {
  for (const candidate of [dir, join(dir, 'CIFAR-SVHN-STL')]) {
    if (existsSync(join(candidate, 'networks', 'resnetMLAAN.py'))) return resolve(candidate);
  }
  throw new BenchmarkSetupError(
    `--authors-code ${dir}: no networks/resnetMLAAN.py there or in ${dir}/CIFAR-SVHN-STL. Pass the CIFAR-SVHN-STL folder of github Wendy231015/MLAAN, e.g. after \`git clone https://github.com/Wendy231015/MLAAN /tmp/mlaan-authors\`: --authors-code /tmp/mlaan-authors/CIFAR-SVHN-STL.`,
  );
}

async function runDriver(): Promise<void> {
  const backends = values.backends!.split(',').filter(Boolean);
  const configurations = values.configurations!.split(',').filter(Boolean);
  const unknown = configurations.filter((c) => !OURS[c]);
  if (unknown.length > 0) {
    throw new BenchmarkSetupError(`Unknown configuration(s) ${unknown.join(', ')}. Known: ${Object.keys(OURS).join(', ')}.`);
  }
  const python = values.python!;
  const versions = checkPython(python);
  const authorsCode = values['authors-code'] === undefined ? undefined : checkAuthorsCode(values['authors-code']);
  if (!authorsCode) console.error("No --authors-code: only our PyTorch E2E runs on the PyTorch side (no authors' rows).");

  const common = ['--batch', String(batchSize), '--threads', String(threads), '--lr', String(learningRate), '--seed', String(seed)];
  const oursOnly = ['--activations', values.activations!, '--profile-kernels', values['profile-kernels']!];
  const pytorchOnly = ['--device', values.device!];
  // tsx's loader is in execArgv: the workers run this same file.
  const oursCommand = (configuration: string, backend: string) =>
    [process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--worker', configuration, '--backend', backend, ...common, ...oursOnly]] as const;
  const oursEnv = { ...process.env, OMP_NUM_THREADS: String(threads) };

  // Configurations matched with the same authors' configuration step side by side.
  const groups = new Map<string, string[]>();
  for (const c of configurations) groups.set(OURS[c]!.authors, [...(groups.get(OURS[c]!.authors) ?? []), c]);

  const rows: Row[] = [];
  const loadAverageStart = loadavg();
  const firstLimit = measureMachineLimitsIfPossible(threads, loadAverageStart[0]!);
  const limits: MachineLimits[] = firstLimit ? [firstLimit] : [];
  if (firstLimit) {
    console.error(`machine limit: ${firstLimit.fma512Gflops} GFLOP/s (512-bit FMA), ${firstLimit.fma256Gflops} (256-bit), ${threads} threads; memory ${firstLimit.readGBs} GB/s read`);
  } else {
    console.error("machine limit: not measured (@mlaan/backend-onednn's addon, whose probes measure it, does not load here); the rows carry no fraction of it");
  }
  const started = Date.now();
  let groupsDone = 0;
  for (const [authorsConfiguration, members] of groups) {
    const participants: Participant[] = [];
    try {
      for (const configuration of members) {
        for (const backend of backends) {
          const [command, args] = oursCommand(configuration, backend);
          participants.push(new Participant('ours', configuration, `ours ${configuration} ${backend}`, command, [...args], oursEnv));
        }
      }
      if (members.some((c) => OURS[c]!.sameArchitecturePyTorch)) {
        for (const program of PYTORCH_E2E_PROGRAMS) {
          participants.push(
            new Participant(
              'pytorch-same-architecture',
              'e2e',
              `pytorch ${program.label}`,
              python,
              [join(here, 'pytorch', 'resnet32_train.py'), '--serve', ...program.args, ...common, ...pytorchOnly],
              { ...process.env, ...program.env },
            ),
          );
        }
      }
      if (authorsCode) {
        participants.push(
          new Participant(
            'authors',
            authorsConfiguration,
            `authors ${authorsConfiguration}`,
            python,
            [join(here, 'pytorch', 'authors_step_time.py'), '--serve', authorsConfiguration, '--authors-code', authorsCode, ...common, ...pytorchOnly],
            process.env,
          ),
        );
      }
      for (const p of participants) {
        p.ready = await p.receive();
        console.error(`${p.label}: ready (${String(p.ready.parameters)} parameters)`);
      }
      for (let round = 0; round < warmup + steps; round++) {
        // Reverse the order every round: no participant always steps right after the same one.
        const order = round % 2 === 0 ? participants : [...participants].reverse();
        for (const p of order) {
          const sample = await p.request('step');
          console.error(`${p.label} ${round < warmup ? 'warm-up' : 'step'} ${round}: ${Number(sample.ms).toFixed(0)} ms, loss ${Number(sample.loss).toFixed(3)}`);
          if (round >= warmup) {
            p.samples.push(sample);
            p.loads.push(loadavg()[0]!);
          }
        }
      }
      for (const p of participants) {
        p.final = await p.request('finish');
        await p.close();
        const row = toRow(p);
        console.log(JSON.stringify({ ...row, details: undefined, stepMs: undefined }));
        rows.push(row);
      }
    } finally {
      for (const p of participants) p.kill();
    }
    // Between configurations (the last one is followed by the final measurement).
    if (++groupsDone < groups.size && firstLimit) limits.push(measureMachineLimits(threads, loadavg()[0]!));
  }

  // The machine's limit, measured once more after the last configuration.
  if (firstLimit) limits.push(measureMachineLimits(threads, loadavg()[0]!));
  const limitGflops = firstLimit ? Math.max(...limits.map((l) => l.peakGflops)) : undefined;
  // GFLOP/s of every row: ours from its own step's count, PyTorch rows with ours' count for the
  // configuration they are matched with (the same network for E2E; the method's arithmetic for
  // the authors' files).
  const oursGflopPerImage = new Map<string, number>();
  for (const row of rows) if (row.side === 'ours' && row.gflopPerImage !== undefined) oursGflopPerImage.set(OURS[row.configuration]!.authors, row.gflopPerImage);
  for (const row of rows) {
    row.gflopPerImage ??= oursGflopPerImage.get(row.configuration);
    if (row.gflopPerImage === undefined) continue;
    row.achievedGflops = round1(row.gflopPerImage * row.imagesPerSecond);
    if (limitGflops !== undefined) row.fractionOfLimit = +(row.achievedGflops / limitGflops).toFixed(3);
  }

  const find = (side: Row['side'], configuration: string, backend?: string) =>
    rows.find((r) => r.side === side && r.configuration === configuration && (backend === undefined || r.backend === backend));
  const ratios: Record<string, unknown>[] = [];
  const ratio = (ours: Row, theirs: Row, against: string, target: number | undefined, extra: Record<string, unknown> = {}) => {
    const value = ours.imagesPerSecond / theirs.imagesPerSecond;
    ratios.push({
      ours: ours.label,
      against,
      oursImagesPerSecond: ours.imagesPerSecond,
      theirsImagesPerSecond: theirs.imagesPerSecond,
      imagesPerSecondRatio: +value.toFixed(3),
      target: target === undefined ? 'none (for reference)' : `>= ${target}`,
      meetsTarget: target === undefined ? undefined : value >= target,
      oursFractionOfLimit: ours.fractionOfLimit,
      theirsFractionOfLimit: theirs.fractionOfLimit,
      peakRssRatio: +(ours.peakRssMiB / theirs.peakRssMiB).toFixed(2),
      ...extra,
    });
  };
  for (const ours of rows.filter((r) => r.side === 'ours')) {
    const spec = OURS[ours.configuration]!;
    const authors = find('authors', spec.authors);
    if (spec.sameArchitecturePyTorch) {
      // The E2E anchor: the fastest PyTorch program of the network in this run.
      const programs = rows.filter((r) => r.side === 'pytorch-same-architecture' || (r.side === 'authors' && r.configuration === 'e2e'));
      const fastest = programs.reduce<Row | undefined>((best, r) => (best && best.imagesPerSecond >= r.imagesPerSecond ? best : r), undefined);
      if (fastest) ratio(ours, fastest, `the fastest PyTorch program of the network in this run: ${fastest.label}`, E2E_TARGET, { fastest: true });
      for (const program of programs) if (program !== fastest) ratio(ours, program, program.label, undefined);
    } else if (authors) {
      ratio(ours, authors, `the authors' ${authors.code} (${spec.authors})`, spec.mlaan ? MLAAN_TARGET : undefined, {
        // Same network and heads: 0, or what the configuration's differences list explains.
        trainedParametersTheirsMinusOurs: (authors.trainedParameters ?? authors.parameters) - ours.parameters,
      });
    }
  }
  for (const r of ratios) console.log(JSON.stringify(r));

  const command = ['npx tsx benchmarks/native-vs-pytorch.ts', ...process.argv.slice(2)].join(' ');
  const machine = describeMachine({
    cpuFlags: cpuVectorFlags(),
    limitGflops,
    limits,
    python: `${python} (Python ${versions.python})`,
    torch: versions.torch,
    threads,
    loadAverageStart,
    loadAverageEnd: loadavg(),
    wallSeconds: Math.round((Date.now() - started) / 1000),
    note:
      'Every participant is its own process; the compared ones step in turn. Both sides use OpenMP threads: on a machine where other processes hold cores, their spin barriers make step times jump (seconds instead of tens of milliseconds), so only runs with a load average well below the core count are meaningful (see loadAverage per row).',
  });
  const report = {
    benchmark: 'native-vs-pytorch-resnet32',
    command,
    machine,
    settings: {
      batch: batchSize,
      warmupSteps: warmup,
      timedSteps: steps,
      threads,
      learningRate,
      optimizer: 'SGD, Nesterov momentum 0.9, weight decay 1e-4 (METHOD §6) on every side; the lr does not change the step time and 0.1 keeps random data from diverging',
      data: 'random: uniform [0, 1] images normalised with the CIFAR-10 mean and std, labels i mod 10',
      backends,
      authorsCode: authorsCode ?? 'not given: pass --authors-code DIR (the CIFAR-SVHN-STL folder of github Wendy231015/MLAAN)',
    },
    configurations: Object.fromEntries(
      configurations.map((c) => [
        c,
        { description: OURS[c]!.description, authors: OURS[c]!.authors, matched: OURS[c]!.matched, differences: OURS[c]!.differences },
      ]),
    ),
    rows,
    ratios,
  };
  writeResults(values.out!, report);
}

try {
  if (values.worker !== undefined) await runWorker(values.worker);
  else await runDriver();
} catch (error) {
  if (error instanceof BenchmarkSetupError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
