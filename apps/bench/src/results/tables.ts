import { optionsOfConfig } from '../configuration/configuration-facts.js';
import { formatDuration } from '../duration.js';
import { FRAMEWORK_NAMES, frameworkDefinition } from '../registry/frameworks.js';
import type { RunResult } from './result-format.js';
import { numberOrNaN, PAPER_PROTOCOL, type Section, type Statistic, stepMemoryWorkers, stepPeakBytes, type Summary, trainedLikeThePapers } from './aggregate.js';
import { configurationLabel, runConfigurationLabel } from './labels.js';

/** A table as data, rendered to Markdown and HTML alike. */
export interface TableModel {
  title: string;
  header: string[];
  rows: string[][];
  notes: string[];
}

export const METRICS = {
  bestError: {
    title: 'Test error (%), best epoch',
    pick: (s: Summary) => s.bestErrorPercent,
    digits: 2,
    published: (s: Summary) => s.published.testErrorPercent,
  },
  lastError: {
    title: 'Test error (%), last epoch',
    pick: (s: Summary) => s.lastErrorPercent,
    digits: 2,
    published: (s: Summary) => s.published.testErrorPercent,
  },
  memory: {
    title: 'Training step memory (MiB)',
    pick: (s: Summary) => s.stepMemoryMiB,
    digits: 0,
    published: (s: Summary) => (s.published.gpuMemoryGB === undefined ? undefined : s.published.gpuMemoryGB * 1000),
  },
  dataMemory: {
    title: 'Input data held (MiB)',
    pick: (s: Summary) => s.dataMiB,
    digits: 0,
    published: () => undefined,
  },
  throughput: {
    title: 'Training throughput (images/s)',
    pick: (s: Summary) => s.imagesPerSecond,
    digits: 1,
    published: () => undefined,
  },
  wall: {
    title: 'Wall time per run (s)',
    pick: (s: Summary) => s.wallSeconds,
    digits: 0,
    published: () => undefined,
  },
} as const satisfies Record<
  string,
  { title: string; pick: (s: Summary) => Statistic; digits: number; published: (s: Summary) => number | undefined }
>;

export type MetricName = keyof typeof METRICS;

export function formatStatistic(stat: Statistic, digits: number): string {
  if (stat.n === 0 || !Number.isFinite(stat.mean)) return '–';
  const mean = stat.mean.toFixed(digits);
  return stat.n > 1 && Number.isFinite(stat.std) ? `${mean} ± ${stat.std.toFixed(digits)}` : mean;
}

function columnLabel(section: Section, modules: number): string {
  const perBlock = section.summaries.some((s) => s.modules === modules && s.K === 'per-block');
  return perBlock ? `K=${modules} (per block)` : `K=${modules}`;
}

/** What every table of a section shares: seeds and epochs. */
export function sectionNote(section: Section): string {
  const seeds = [...new Set(section.summaries.flatMap((s) => s.seeds))].sort((a, b) => a - b);
  const epochs = [...new Set(section.summaries.map((s) => `${s.method} ${s.epochs}`))];
  // One seed is one run: no mean, no spread, and nothing here says how far another seed would land.
  const cells =
    seeds.length > 1
      ? `Each cell: mean ± sample standard deviation over seeds ${seeds.join(', ')}.`
      : `Each cell: one run (seed ${seeds.join(', ')}); with one seed the tables cannot say how much of a difference is noise.`;
  return `${cells} Epochs: ${epochs.join(', ')}.`;
}

/** Rows: methods; columns: K; like the papers' tables. */
export function metricTable(section: Section, metric: MetricName): TableModel {
  const definition = METRICS[metric];
  // A paper's test error stands beside ours only when we trained like the paper (publishedTable otherwise).
  const showPublished = metric === 'memory' || trainedLikeThePapers(section);
  const methods = [...new Set(section.summaries.map((s) => s.method))];
  const rows = methods.map((method) => [
    method,
    ...section.columns.map((modules) => {
      const summary = section.summaries.find((s) => s.method === method && s.modules === modules);
      if (!summary) return '–';
      let cell = formatStatistic(definition.pick(summary), definition.digits);
      const published = showPublished ? definition.published(summary) : undefined;
      if (published !== undefined) cell += ` (paper ${metric === 'memory' ? `${(published / 1000).toFixed(2)} GB` : published.toFixed(2)})`;
      if (metric === 'memory' && summary.stepMemoryWorkers.length > 0) cell += ` (per worker, largest of ${summary.stepMemoryWorkers.join('/')})`;
      if (summary.diverged > 0) cell += ` (${summary.diverged} diverged)`;
      return cell;
    }),
  ]);
  const notes: string[] = [];
  if (metric === 'memory') {
    const e2e = section.summaries.find((s) => s.framework === 'e2e');
    notes.push(
      'The training step’s own peak, as benchmarks/mlaan-cost.ts measures it: the trainer’s state when the step begins (weights of backbone, heads, ' +
        'decoders, leap nets and EMA twins; momentum) plus the most the step allocates on top, each tensor data buffer once. ' +
        'The batch, the datasets and evaluation are not in it (see “Input data held”). ' +
        (section.summaries.some((s) => s.tensorBytesOnGpu)
          ? 'On tensorflow-gpu and webgpu these tensors are in GPU memory (TensorFlow’s allocator reserves more; on webgpu, stepPeakBytesInGPU in the results is what the GPU held at the step’s peak).'
          : 'In host memory on this backend.'),
    );
    if (section.summaries.some((s) => s.stepMemoryWorkers.length > 0)) notes.push(PER_WORKER_NOTE);
    if (e2e && Number.isFinite(e2e.stepMemoryMiB.mean)) {
      const ratios = section.summaries
        .filter((s) => s.framework !== 'e2e' && s.stepMemoryWorkers.length === 0 && Number.isFinite(s.stepMemoryMiB.mean))
        .map((s) => `${configurationLabel(s)} ${((100 * s.stepMemoryMiB.mean) / e2e.stepMemoryMiB.mean).toFixed(0)} %`);
      if (ratios.length) notes.push(`Against E2E (${e2e.stepMemoryMiB.mean.toFixed(0)} MiB): ${ratios.join(', ')}.`);
    }
  }
  if (metric === 'dataMemory') {
    notes.push(
      'Training and test images the input pipeline keeps in host memory, plus tensor bytes alive outside the trainer when a step begins ' +
        '(the batch; anything evaluation left behind). Not part of the method’s cost; it would grow with epochs only if something leaked.',
    );
  }
  const sources = new Set(
    section.summaries.flatMap((s) => (metric === 'memory' ? [s.published.gpuMemorySource] : metric.endsWith('Error') && showPublished ? [s.published.testErrorSource] : [])).filter(Boolean),
  );
  for (const source of sources) notes.push(`Paper numbers in parentheses: ${source}; our setting may differ (epochs, subset, schedule).`);
  return { title: definition.title, header: ['Method', ...section.columns.map((m) => columnLabel(section, m))], rows, notes };
}

/**
 * The papers' test errors for a section that did not train like them, in a table of their own
 * whose title says so: a 10-epoch run beside a 160-epoch number reads as a failed reproduction.
 * Undefined when the section trained like the papers (metricTable shows them in its cells) or
 * the papers have no number for its methods.
 */
export function publishedTable(section: Section): TableModel | undefined {
  if (trainedLikeThePapers(section)) return undefined;
  const known = section.summaries.filter((s) => s.published.testErrorPercent !== undefined);
  if (known.length === 0) return undefined;
  const methods = [...new Set(known.map((s) => s.method))];
  const columns = [...new Set(known.map((s) => s.modules))].sort((a, b) => a - b);
  return {
    title: `Published test error (%): ${PAPER_PROTOCOL.description}, not comparable with these runs`,
    header: ['Method', ...columns.map((m) => columnLabel(section, m))],
    rows: methods.map((method) => [
      method,
      ...columns.map((modules) => {
        const summary = known.find((s) => s.method === method && s.modules === modules);
        return summary ? summary.published.testErrorPercent!.toFixed(2) : '–';
      }),
    ]),
    notes: [
      ...new Set(known.map((s) => `${s.published.testErrorSource}.`)),
      `These runs trained ${[...new Set(section.runs.map((run) => run.config.epochs))].join(', ')} epoch(s) on ${section.config.trainLimit === null ? 'the full training set' : `${section.config.trainLimit} training images`}: their errors are far above the papers’ by design, and the gap says nothing about the implementation.`,
    ],
  };
}

const PER_WORKER_NOTE =
  '“per worker, largest of W”: a run on W pipeline workers (--workers W); each worker, its own device, measures its own step the same way ' +
  '(its modules’ and heads’ variables, the replicas LAM reads, their momentum, plus what its step allocates), and the cell is the largest ' +
  'worker’s, not the whole model’s; the sum over workers is in results.json (memory.step.workers).';

const fixed = (value: unknown, digits: number) => (Number.isFinite(numberOrNaN(value)) ? numberOrNaN(value).toFixed(digits) : '–');

const mebibytes = (bytes: unknown) => fixed(numberOrNaN(bytes) / 2 ** 20, 0);

/** `0.47 M + 0.21 M`: backbone and auxiliary parameters in millions. */
export function formatParameters(run: RunResult): string {
  const millions = (n: number) => `${(n / 1e6).toFixed(2)} M`;
  return run.parameters.auxiliary > 0 ? `${millions(run.parameters.backbone)} + ${millions(run.parameters.auxiliary)}` : millions(run.parameters.backbone);
}

/** One row per run; the configuration ids are in results.json and results.csv (too long for a 1280 px page). */
export function runsTable(runs: readonly RunResult[]): TableModel {
  return {
    title: 'Runs',
    header: ['Method', 'K', 'Seed', 'Epochs', 'Best err %', 'Last err %', 'Step MiB', 'Data MiB', 'Parameters', 'Img/s', 'Wall', 'Backend', 'Load', 'Status'],
    rows: runs.map((run) => [
      run.method,
      String(run.modules),
      String(run.config.seed),
      String(run.config.epochs),
      fixed(run.testErrorPercent.best, 2),
      fixed(run.testErrorPercent.last, 2),
      mebibytes(stepPeakBytes(run)) + (stepMemoryWorkers(run) > 1 ? ` (per worker, largest of ${stepMemoryWorkers(run)})` : ''),
      mebibytes(run.memory.data.datasetBytes + run.memory.data.tensorsOutsideTrainerBytes),
      formatParameters(run),
      fixed(run.throughput.imagesPerSecond, 1),
      formatDuration(numberOrNaN(run.wallSeconds)),
      run.backend.choice,
      fixed(run.machine.loadAverage?.[0], 1),
      run.status + (run.sessions > 1 ? ` (resumed ${run.sessions - 1}×)` : '') + (run.warning ? ' (lr warning)' : ''),
    ]),
    notes: [
      ...[...new Set(runs.map((run) => run.warning).filter((warning): warning is string => !!warning))].map((warning) => `lr warning: ${warning}`),
      'Parameters: backbone + auxiliary (heads, decoders, leap nets; EMA twins are buffers, not counted).',
      ...(runs.some((run) => stepMemoryWorkers(run) > 1) ? [PER_WORKER_NOTE] : []),
      'Load: the machine’s 1-minute load average when the run ended; above the core count, other work slowed the timings.',
    ],
  };
}

/** Auxiliary parameters by owner (the first segment of the variable names), one row per method and K. */
export function parametersTable(section: Section): TableModel {
  const seen = new Map<string, RunResult>();
  for (const run of section.runs) seen.set(runConfigurationLabel(run), seen.get(runConfigurationLabel(run)) ?? run);
  return {
    title: 'Parameters: backbone and auxiliary',
    header: ['Configuration', 'Backbone', 'Auxiliary', 'Auxiliary by owner', 'Auxiliary buffers'],
    rows: [...seen.entries()].map(([label, run]) => [
      label,
      run.parameters.backbone.toLocaleString('en-US'),
      run.parameters.auxiliary.toLocaleString('en-US'),
      Object.entries(run.parameters.auxiliaryByOwner)
        .map(([owner, count]) => `${owner} ${count.toLocaleString('en-US')}`)
        .join(', ') || '–',
      run.parameters.auxiliaryBuffers.toLocaleString('en-US'),
    ]),
    notes: ['Auxiliary buffers: non-trainable state outside the backbone (EMA twins of LAM, head batch-norm statistics).'],
  };
}

/** Every setting the section's runs share: the hyperparameters a reader needs to reproduce them. */
export function hyperparametersTable(section: Section): TableModel {
  const heads = [
    ...new Set(
      section.runs.flatMap((run) => {
        const options = optionsOfConfig(run.config);
        return Object.entries(frameworkDefinition(run.config.framework).options)
          .filter(([name]) => options[name] !== undefined)
          .map(([name, option]) => option.describe(options[name]));
      }),
    ),
  ];
  const rows: [string, string][] = Object.entries(section.config).map(([key, value]) => [key, value === null ? 'all' : String(value)]);
  rows.push(['epochs', [...new Set(section.runs.map((run) => run.config.epochs))].join(', ')]);
  if (heads.length) rows.push(['per framework', heads.join(', ')]);
  rows.push(['activation schedule', [...new Set(section.runs.map((run) => `${run.method}: ${run.schedule}`))].join(', ')]);
  return { title: 'Hyperparameters', header: ['Setting', 'Value'], rows, notes: [] };
}

/** The code and packages that produced the runs: git commit, versions, Node. */
export function provenanceTable(runs: readonly RunResult[]): TableModel {
  const rows: string[][] = [];
  const commits = [...new Set(runs.map((run) => `${run.provenance.gitCommit ?? 'not a git checkout'}${run.provenance.gitDirty ? ' (uncommitted changes)' : ''}`))];
  rows.push(['git commit', commits.join(', ')]);
  const packages = new Map<string, Set<string>>();
  for (const run of runs) {
    for (const [name, version] of Object.entries(run.provenance.packages)) packages.set(name, (packages.get(name) ?? new Set()).add(version));
  }
  for (const [name, versions] of packages) rows.push([name, [...versions].join(', ')]);
  rows.push(['node', [...new Set(runs.map((run) => run.provenance.node))].join(', ')]);
  return { title: 'Code and versions', header: ['What', 'Version'], rows, notes: [] };
}

function escapeMarkdown(cell: string): string {
  return cell.replace(/\|/g, '\\|');
}

export function tableToMarkdown(table: TableModel, level = 3): string {
  const lines = [`${'#'.repeat(level)} ${table.title}`, '', `| ${table.header.map(escapeMarkdown).join(' | ')} |`, `|${table.header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of table.rows) lines.push(`| ${row.map(escapeMarkdown).join(' | ')} |`);
  if (table.notes.length) lines.push('', ...table.notes.map((note) => `- ${note}`));
  return lines.join('\n');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Cells longer than this are text, not a number: they may wrap. */
const LONG_CELL = 40;

export function tableToHtml(table: TableModel): string {
  const head = `<tr>${table.header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('')}</tr>`;
  // Numbers stay on one line; long text (commits, activation schedules) wraps instead of widening the page.
  const td = (cell: string) => (cell.length > LONG_CELL ? `<td class="text">${escapeHtml(cell)}</td>` : `<td>${escapeHtml(cell)}</td>`);
  const body = table.rows.map((row) => `<tr>${row.map((cell, i) => (i === 0 ? `<th>${escapeHtml(cell)}</th>` : td(cell))).join('')}</tr>`).join('\n');
  const notes = table.notes.length ? `<ul class="notes">${table.notes.map((note) => `<li>${escapeHtml(note)}</li>`).join('')}</ul>` : '';
  return `<h3>${escapeHtml(table.title)}</h3>\n<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>\n${notes}`;
}

const CSV_COLUMNS: [string, (run: RunResult) => unknown][] = [
  ['id', (r) => r.id],
  ['dataset', (r) => r.config.dataset],
  ['network', (r) => r.config.network],
  ['framework', (r) => r.config.framework],
  ['plugins', (r) => r.config.plugins],
  ['method', (r) => r.method],
  ['K', (r) => r.config.K],
  ['modules', (r) => r.modules],
  ['split', (r) => r.config.split],
  ['seed', (r) => r.config.seed],
  ['epochs', (r) => r.config.epochs],
  ['batch_size', (r) => r.config.batchSize],
  ['learning_rate', (r) => r.config.learningRate],
  ['schedule', (r) => r.config.schedule],
  ['train_images', (r) => r.trainImages],
  ['test_images', (r) => r.testImages],
  ['backend', (r) => r.backend.choice],
  ['status', (r) => r.status],
  ['best_test_error_percent', (r) => r.testErrorPercent.best],
  ['best_epoch', (r) => r.testErrorPercent.bestEpoch],
  ['last_test_error_percent', (r) => r.testErrorPercent.last],
  ['last_train_loss', (r) => r.lastTrainLoss],
  // Each host's options, `<framework>_<option>` (dgl_head, infopro_task): empty for the other frameworks.
  ...FRAMEWORK_NAMES.flatMap((framework) =>
    Object.keys(frameworkDefinition(framework).options).map(
      (name): [string, (run: RunResult) => unknown] => [
        `${framework}_${name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)}`,
        (r) => {
          const value = r.config.framework === framework ? optionsOfConfig(r.config)[name] : undefined;
          return Array.isArray(value) ? value.join(' ') : value;
        },
      ],
    ),
  ),
  ['step_peak_bytes', (r) => stepPeakBytes(r)],
  ['step_state_bytes', (r) => r.memory.step.stateBytes],
  ['step_allocation_bytes', (r) => r.memory.step.stepAllocationBytes],
  // 1: the sequential trainer; W: the step_* bytes are the largest pipeline worker's.
  ['step_memory_workers', (r) => stepMemoryWorkers(r)],
  ['step_peak_bytes_sum_over_workers', (r) => r.memory.step.workers?.stepPeakBytesSum ?? null],
  ['tensor_bytes_on_gpu', (r) => r.memory.step.tensorBytesOnGpu],
  ['dataset_bytes', (r) => r.memory.data.datasetBytes],
  ['tensors_outside_trainer_bytes', (r) => r.memory.data.tensorsOutsideTrainerBytes],
  ['tensors_left_by_evaluation', (r) => r.memory.data.tensorsLeftByEvaluation],
  ['peak_rss_bytes', (r) => r.memory.process.peakRssBytes],
  ['images_per_second', (r) => r.throughput.imagesPerSecond],
  ['mean_step_ms', (r) => r.throughput.meanStepMs],
  ['wall_seconds', (r) => r.wallSeconds],
  ['train_seconds', (r) => r.trainSeconds],
  ['eval_seconds', (r) => r.evalSeconds],
  ['parameters', (r) => r.parameters.total],
  ['backbone_parameters', (r) => r.parameters.backbone],
  ['auxiliary_parameters', (r) => r.parameters.auxiliary],
  ['learning_rates', (r) => r.epochs.map((e) => e.learningRate).join(' ')],
  ['git_commit', (r) => r.provenance.gitCommit],
  ['sessions', (r) => r.sessions],
];

function csvCell(value: unknown): string {
  if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function runsToCsv(runs: readonly RunResult[]): string {
  const lines = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const run of runs) lines.push(CSV_COLUMNS.map(([, get]) => csvCell(get(run))).join(','));
  return `${lines.join('\n')}\n`;
}
