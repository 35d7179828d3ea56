import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MachineInfo } from '../machine.js';
import type { RunResult } from './result-format.js';
import { aggregate, type Section } from './aggregate.js';
import { type Chart, sectionCharts } from './charts.js';
import { effectsTable } from './comparison.js';
import {
  escapeHtml,
  hyperparametersTable,
  metricTable,
  type MetricName,
  parametersTable,
  provenanceTable,
  publishedTable,
  runsTable,
  runsToCsv,
  sectionNote,
  tableToHtml,
  tableToMarkdown,
  type TableModel,
} from './tables.js';

export const RESULTS_FORMAT = 'mlaan-bench-results';

export interface ReportContext {
  /** The command line that produced the results, as typed. */
  command: string;
  machine: MachineInfo;
  generatedAt?: string;
}

export interface WrittenReport {
  files: string[];
  sections: Section[];
  markdown: string;
}

const TABLE_METRICS: MetricName[] = ['bestError', 'lastError', 'memory', 'dataMemory', 'throughput', 'wall'];

async function writeAtomic(path: string, content: string): Promise<void> {
  const temporary = `${path}.partial-${process.pid}`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}

/** A section's tables, in reading order: what the plugins change, each metric, then the papers' numbers where they are not comparable. */
function sectionTables(section: Section): TableModel[] {
  const effects = effectsTable(section);
  const published = publishedTable(section);
  return [...(effects ? [effects] : []), ...TABLE_METRICS.map((metric) => metricTable(section, metric)), ...(published ? [published] : [])];
}

function machineLine(machine: MachineInfo): string {
  // The load average that matters is each run's own (the Runs table), not the one when the report is written.
  return `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB, ${machine.platform}, Node ${machine.node}, tfjs ${machine.tfjs}`;
}

/** The commands that trained the runs (older results without one: the report's own command). */
function commands(runs: readonly RunResult[], context: ReportContext): string[] {
  return [...new Set(runs.map((run) => run.command ?? context.command))];
}

export function markdownReport(
  sections: Section[],
  charts: Map<Section, Chart[]>,
  runs: readonly RunResult[],
  context: ReportContext,
  generatedAt: string,
): string {
  const trainedBy = commands(runs, context);
  const parts = [
    '# MLAAN benchmark results',
    '',
    ...trainedBy.map((command) => `- Command: \`${command}\``),
    ...(trainedBy.includes(context.command) ? [] : [`- Report written by: \`${context.command}\``]),
    `- Machine: ${machineLine(context.machine)}`,
    `- Backends: ${[...new Set(runs.map((run) => run.backend.description))].join('; ')}`,
    `- Generated: ${generatedAt}`,
    '- Files: `results.json` (everything, per-epoch history), `results.csv` (one row per run), `report.html` (tables and charts), `charts/*.svg`.',
  ];
  for (const section of sections) {
    parts.push('', `## ${section.title}`, '', sectionNote(section), '');
    for (const table of sectionTables(section)) parts.push(tableToMarkdown(table), '');
    parts.push(
      `Charts: ${charts
        .get(section)!
        .map((chart) => `[${chart.title}](charts/${chart.file})`)
        .join(', ')}`,
      '',
      tableToMarkdown(runsTable(section.runs)),
      '',
      tableToMarkdown(parametersTable(section)),
      '',
      tableToMarkdown(hyperparametersTable(section)),
    );
  }
  parts.push('', tableToMarkdown(provenanceTable(runs), 2));
  return `${parts.join('\n')}\n`;
}

function htmlReport(sections: Section[], charts: Map<Section, Chart[]>, runs: readonly RunResult[], context: ReportContext, generatedAt: string): string {
  const body = sections
    .map((section) => {
      const tables = sectionTables(section).map(tableToHtml).join('\n');
      const figures = (charts.get(section) ?? []).map((chart) => `<figure>${chart.svg}<figcaption>${escapeHtml(chart.title)}</figcaption></figure>`).join('\n');
      const details = [runsTable(section.runs), parametersTable(section), hyperparametersTable(section)].map(tableToHtml).join('\n');
      return `<section>\n<h2>${escapeHtml(section.title)}</h2>\n<p>${escapeHtml(sectionNote(section))}</p>\n<div class="charts">${figures}</div>\n${tables}\n${details}\n</section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>MLAAN benchmark results</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 0.25rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: right; }
td { white-space: nowrap; }
td.text { white-space: normal; overflow-wrap: anywhere; text-align: left; }
table { max-width: 100%; }
thead th, tbody th { text-align: left; background: #f5f5f5; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
figcaption { text-align: center; color: #555; }
.notes { color: #555; margin-top: 0.25rem; }
code { background: #f3f3f3; padding: 0 0.25rem; }
</style>
</head>
<body>
<h1>MLAAN benchmark results</h1>
<ul>
${commands(runs, context)
  .map((command) => `<li>Command: <code>${escapeHtml(command)}</code></li>`)
  .join('\n')}
<li>Machine: ${escapeHtml(machineLine(context.machine))}</li>
<li>Backends: ${escapeHtml([...new Set(runs.map((run) => run.backend.description))].join('; '))}</li>
<li>Generated: ${escapeHtml(generatedAt)}</li>
</ul>
${body}
<section>
${tableToHtml(provenanceTable(runs))}
</section>
</body>
</html>
`;
}

/**
 * Writes results.json, results.csv, results.md, report.html and charts/*.svg for `runs` into
 * `outDir`, replacing earlier ones (each file is written whole, then renamed into place).
 */
export async function writeReports(outDir: string, runs: readonly RunResult[], context: ReportContext): Promise<WrittenReport> {
  const generatedAt = context.generatedAt ?? new Date().toISOString();
  const sections = aggregate(runs);
  await mkdir(join(outDir, 'charts'), { recursive: true });
  const charts = new Map<Section, Chart[]>();
  const files: string[] = [];
  for (const section of sections) {
    const sectionChartList = await sectionCharts(section);
    charts.set(section, sectionChartList);
    for (const chart of sectionChartList) {
      const path = join(outDir, 'charts', chart.file);
      await writeAtomic(path, chart.svg);
      files.push(path);
    }
  }
  const markdown = markdownReport(sections, charts, runs, context, generatedAt);
  const outputs: [string, string][] = [
    [
      'results.json',
      `${JSON.stringify(
        {
          format: RESULTS_FORMAT,
          version: 1,
          generatedAt,
          command: context.command,
          trainedBy: commands(runs, context),
          machine: context.machine,
          summaries: sections.flatMap((section) => section.summaries),
          runs,
        },
        null,
        2,
      )}\n`,
    ],
    ['results.csv', runsToCsv(sections.flatMap((section) => section.runs))],
    ['results.md', markdown],
    ['report.html', htmlReport(sections, charts, runs, context, generatedAt)],
  ];
  for (const [name, content] of outputs) {
    const path = join(outDir, name);
    await writeAtomic(path, content);
    files.push(path);
  }
  return { files, sections, markdown };
}
