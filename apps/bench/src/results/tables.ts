import { formatDuration } from '../progress.js';
import type { RunResult } from '../train.js';
import { numberOrNaN, type Section, type Statistic, type Summary } from './aggregate.js';

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
    title: 'Peak memory held by tensors (MiB)',
    pick: (s: Summary) => s.peakTensorMiB,
    digits: 0,
    published: (s: Summary) => (s.published.gpuMemoryGB === undefined ? undefined : s.published.gpuMemoryGB * 1000),
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
  const multi = seeds.length > 1;
  return `Each cell: mean${multi ? ' ± sample standard deviation' : ''} over seed${multi ? 's' : ''} ${seeds.join(', ')}. Epochs: ${epochs.join(', ')}.`;
}

/** Rows: methods; columns: K; like the papers' tables. */
export function metricTable(section: Section, metric: MetricName): TableModel {
  const definition = METRICS[metric];
  const methods = [...new Set(section.summaries.map((s) => s.method))];
  const rows = methods.map((method) => [
    method,
    ...section.columns.map((modules) => {
      const summary = section.summaries.find((s) => s.method === method && s.modules === modules);
      if (!summary) return '–';
      let cell = formatStatistic(definition.pick(summary), definition.digits);
      const published = definition.published(summary);
      if (published !== undefined) cell += ` (paper ${metric === 'memory' ? `${(published / 1000).toFixed(2)} GB` : published.toFixed(2)})`;
      if (summary.diverged > 0) cell += ` (${summary.diverged} diverged)`;
      return cell;
    }),
  ]);
  const notes: string[] = [];
  if (metric === 'memory') {
    notes.push(
      section.summaries.some((s) => s.tensorBytesOnGpu)
        ? 'Bytes of distinct tensor data buffers at the peak of a sampled training step (a buffer shared by several tensor handles counted once); on tensorflow-gpu those tensors are in GPU memory (TensorFlow’s allocator reserves more).'
        : 'Bytes of distinct tensor data buffers (weights, optimiser state, activations; a buffer shared by several tensor handles counted once) at the peak of a sampled training step, in host memory on this backend.',
    );
  }
  const sources = new Set(
    section.summaries.flatMap((s) => (metric === 'memory' ? [s.published.gpuMemorySource] : metric.endsWith('Error') ? [s.published.testErrorSource] : [])).filter(Boolean),
  );
  for (const source of sources) notes.push(`Paper numbers in parentheses: ${source}; our setting may differ (epochs, subset, schedule).`);
  return { title: definition.title, header: ['Method', ...section.columns.map((m) => columnLabel(section, m))], rows, notes };
}

const fixed = (value: unknown, digits: number) => (Number.isFinite(numberOrNaN(value)) ? numberOrNaN(value).toFixed(digits) : '–');

export function runsTable(runs: readonly RunResult[]): TableModel {
  return {
    title: 'Runs',
    header: ['Configuration', 'Method', 'K', 'Seed', 'Epochs', 'Best error %', 'Last error %', 'Peak tensors MiB', 'Images/s', 'Wall', 'Backend', 'Load avg', 'Status'],
    rows: runs.map((run) => [
      run.id,
      run.method,
      String(run.modules),
      String(run.config.seed),
      String(run.config.epochs),
      fixed(run.testErrorPercent.best, 2),
      fixed(run.testErrorPercent.last, 2),
      fixed(numberOrNaN(run.memory.peakTensorBytes) / 2 ** 20, 0),
      fixed(run.throughput.imagesPerSecond, 1),
      formatDuration(numberOrNaN(run.wallSeconds)),
      run.backend.choice,
      fixed(run.machine.loadAverage?.[0], 1),
      run.status + (run.sessions > 1 ? ` (resumed ${run.sessions - 1}×)` : ''),
    ]),
    notes: ['Load avg: the machine’s 1-minute load average when the run ended; above the core count, other work slowed the timings.'],
  };
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

export function tableToHtml(table: TableModel): string {
  const head = `<tr>${table.header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('')}</tr>`;
  const body = table.rows.map((row) => `<tr>${row.map((cell, i) => (i === 0 ? `<th>${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)).join('')}</tr>`).join('\n');
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
  ['peak_tensor_bytes', (r) => r.memory.peakTensorBytes],
  ['tensor_bytes_on_gpu', (r) => r.memory.tensorBytesOnGpu],
  ['peak_rss_bytes', (r) => r.memory.peakRssBytes],
  ['images_per_second', (r) => r.throughput.imagesPerSecond],
  ['mean_step_ms', (r) => r.throughput.meanStepMs],
  ['wall_seconds', (r) => r.wallSeconds],
  ['train_seconds', (r) => r.trainSeconds],
  ['eval_seconds', (r) => r.evalSeconds],
  ['parameters', (r) => r.parameters],
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
