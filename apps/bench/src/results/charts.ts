import { MLM_PROFILES } from '@mlaan/mlm';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { numberOrNaN, type Section, stepMemoryWorkers, stepPeakBytes, trainedLikeThePapers } from './aggregate.js';
import { runConfigurationLabel } from './labels.js';

export interface Chart {
  /** File name under charts/. */
  file: string;
  title: string;
  svg: string;
}

/** vega-lite → vega → SVG, headless (renderer 'none': no canvas, no browser, no native modules). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// Two charts side by side on a 1280 px page: the plot, its axis and a legend below it.
const WIDTH = 460;
const HEIGHT = 240;
/** Legends below the plot, with room for the longest row labels (`DGL[mlaan head]+MLAAN K=16`). */
const LEGEND = { orient: 'bottom', direction: 'vertical', columns: 2, labelLimit: 260 };
const CONFIG = { legend: LEGEND, axis: { labelFontSize: 11, titleFontSize: 12 } };

interface Point {
  method: string;
  K: number;
  value: number;
  seed: number;
}

/** The test-error axis spans at least this many points: a 0.5-point difference is a twentieth of it. */
export const ERROR_AXIS_MINIMUM_SPAN = 10;

/** E2E's dash, in the plot and in the legend alike; the local methods are solid. */
const E2E_DASH = [6, 4];
const SOLID: number[] = [];

/**
 * A y range that shows the data's spread without blowing up a small difference: the data (means
 * ± 1 std, E2E, published points) with at least `minimumSpan` between the ends, so a 0.5-point gap
 * covers at most a twentieth of a 10-point axis; never below 0 (or above 100 for percentages).
 */
export function valueDomain(values: number[], minimumSpan: number, upperLimit = Infinity): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, minimumSpan];
  let [low, high] = [Math.min(...finite), Math.max(...finite)];
  const pad = Math.max(0, minimumSpan - (high - low)) / 2 + (high - low) * 0.05;
  [low, high] = [low - pad, high + pad];
  if (low < 0) [low, high] = [0, high - low];
  if (high > upperLimit) [low, high] = [Math.max(0, low - (high - upperLimit)), upperLimit];
  return [low, high];
}

function meanAndSpread(points: Point[]): number[] {
  const groups = new Map<string, number[]>();
  for (const p of points) groups.set(`${p.method}/${p.K}`, [...(groups.get(`${p.method}/${p.K}`) ?? []), p.value]);
  return [...groups.values()].flatMap((values) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
    return [mean - std, mean + std];
  });
}

interface VersusKOptions {
  /** Published points (hollow diamonds); only for a section trained like the papers. */
  published: Point[];
  /** The y axis from 0 (memory), or a range fitted to the data of at least this many units (test error). */
  minimumSpan?: number;
  upperLimit?: number;
}

/**
 * A metric against K, one line per method (mean over seeds, error bars ± 1 std), E2E as a dashed
 * horizontal line across every K (it has no local modules; the tables list it under K=1), drawn
 * and listed in the legend with the same dash.
 */
function versusKSpec(title: string, yTitle: string, local: Point[], e2e: Point[], options: VersusKOptions): TopLevelSpec {
  const shownPublished = local.length ? options.published.filter((p) => p.K > 1) : [];
  const severalSeeds = [...local, ...e2e].some((p, i, all) => all.findIndex((q) => q.method === p.method && q.K === p.K) !== i);
  const subtitle = [
    ...(e2e.length ? ['dashed: E2E (K=1), drawn across every K'] : []),
    ...(shownPublished.length ? ['◇: published (InfoPro paper, the same protocol)'] : []),
    ...(severalSeeds ? ['bars: ± 1 std over seeds'] : []),
  ];
  const methods = [...new Set([...local, ...e2e].map((p) => p.method))];
  const e2eMethods = new Set(e2e.map((p) => p.method));
  const y = (aggregate?: 'mean') => ({
    ...(aggregate ? { aggregate } : {}),
    field: 'value',
    type: 'quantitative',
    title: yTitle,
    scale:
      options.minimumSpan === undefined
        ? { zero: true }
        : { zero: false, nice: false, domain: valueDomain([...meanAndSpread([...local, ...e2e]), ...shownPublished.map((p) => p.value)], options.minimumSpan, options.upperLimit) },
    axis: { format: ',.4~r' },
  });
  const layers: object[] = [];
  const x = { field: 'K', type: 'ordinal', title: 'K (local modules)', axis: { labelAngle: 0 } };
  // Colour and dash share the field and title, so vega-lite draws one legend whose E2E entry is dashed.
  const color = { field: 'method', type: 'nominal', title: 'Method', scale: { domain: methods }, legend: { symbolType: 'stroke', symbolStrokeWidth: 2 } };
  const strokeDash = { field: 'method', type: 'nominal', title: 'Method', scale: { domain: methods, range: methods.map((m) => (e2eMethods.has(m) ? E2E_DASH : SOLID)) } };
  const ks = [...new Set(local.map((p) => p.K))];
  if (local.length) {
    layers.push(
      { data: { values: local }, mark: { type: 'line', point: true }, encoding: { x, y: y('mean'), color, strokeDash } },
      { data: { values: local }, mark: { type: 'errorbar', extent: 'stdev' }, encoding: { x, y: y(), color } },
    );
  }
  if (e2e.length) {
    // One point per K column, so the dashed line spans the local methods' K (just K=1 without them).
    const across = ks.length ? e2e.flatMap((p) => ks.map((K) => ({ ...p, K }))) : e2e;
    layers.push({ data: { values: across }, mark: { type: 'line' }, encoding: { x, y: y('mean'), color, strokeDash } });
  }
  if (shownPublished.length) {
    layers.push({
      data: { values: shownPublished },
      mark: { type: 'point', shape: 'diamond', filled: false, size: 80 },
      encoding: { x, y: y(), color },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // One note a line: vega measures text without a canvas and overestimates long lines, widening the chart.
    title: subtitle.length ? { text: title, subtitle } : title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: CONFIG,
    layer: layers,
  } as TopLevelSpec;
}

/** Whole epochs on the x axis: no 0.5-epoch ticks on a 3-epoch run. */
const EPOCH_AXIS = { tickMinStep: 1, format: 'd', labelAngle: 0 };

interface EpochPoint {
  /** The line: a configuration, or a loss term. */
  configuration: string;
  epoch: number;
  value: number;
  seed: number;
  /** Module losses: the module (colour) and the kind of term (dash) of `configuration`. */
  module?: string;
  kind?: string;
}

interface PerEpochOptions {
  zero?: boolean;
  format?: string;
  legend?: string;
  /** The subtitle's first line: what the chart is of (a configuration). */
  about?: string;
  /** Extra subtitle lines: what the chart cannot say by itself. */
  notes?: string[];
  /** Colour by module and dash by kind of term (module losses) instead of one colour per line. */
  byModuleAndKind?: boolean;
}

/** Ten colours for up to ten lines, twenty beyond: no two legend entries look alike. */
function colorScheme(lines: number): string {
  return lines <= 10 ? 'tableau10' : 'tableau20';
}

/** Dashes for the kinds of loss term, solid first (the independent term). */
const KIND_DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

/**
 * A per-epoch metric, one line per configuration (method and K): the mean over seeds, and with
 * several seeds a band of ± 1 std. Legend symbols are the lines themselves, drawn opaque.
 */
function perEpochSpec(title: string, yTitle: string, points: EpochPoint[], options: PerEpochOptions = {}): TopLevelSpec {
  const seeds = new Set(points.map((p) => p.seed)).size;
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: EPOCH_AXIS };
  const y = { type: 'quantitative', title: yTitle, scale: { zero: options.zero ?? false }, axis: { format: options.format ?? ',.4~r' } };
  const legend = { symbolType: 'stroke', symbolStrokeWidth: 2, symbolOpacity: 1 };
  const colorField = options.byModuleAndKind ? 'module' : 'configuration';
  const colors = new Set(points.map((p) => (options.byModuleAndKind ? p.module : p.configuration))).size;
  const color = { field: colorField, type: 'nominal', title: options.byModuleAndKind ? 'Module' : (options.legend ?? 'Configuration'), scale: { scheme: colorScheme(colors) }, legend };
  const kinds = [...new Set(points.map((p) => p.kind ?? ''))];
  // A dash legend has no colour of its own: draw its symbols grey and long enough to show the dash.
  const dashLegend = { ...legend, columns: 1, symbolSize: 400, encode: { symbols: { update: { stroke: { value: '#444' } } } } };
  const dash = options.byModuleAndKind
    ? { strokeDash: { field: 'kind', type: 'nominal', title: 'Loss term', scale: { domain: kinds, range: kinds.map((_, i) => KIND_DASHES[i % KIND_DASHES.length]) }, legend: dashLegend } }
    : {};
  const detail = { detail: { field: 'configuration', type: 'nominal' } };
  const layers: object[] = [{ mark: { type: 'line', point: points.length <= 400 }, encoding: { x, y: { ...y, aggregate: 'mean', field: 'value' }, color, ...dash, ...detail } }];
  if (seeds > 1) layers.push({ mark: { type: 'errorband', extent: 'stdev', opacity: 0.15 }, encoding: { x, y: { ...y, field: 'value' }, color, ...detail } });
  const subtitle = [...(options.about ? [options.about] : []), ...(seeds > 1 ? [`line: mean over ${seeds} seeds · band: ± 1 std over seeds`] : []), ...(options.notes ?? [])];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: subtitle.length ? { text: title, subtitle } : title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: CONFIG,
    data: { values: points },
    layer: layers,
  } as TopLevelSpec;
}

/**
 * Configurations that trained at the same learning rate every epoch share one line, named by
 * its configurations (or their count), so that no line hides another.
 */
export function learningRateLines(section: Section): EpochPoint[] {
  const bySchedule = new Map<string, { labels: string[]; points: { epoch: number; value: number }[] }>();
  for (const run of section.runs) {
    const points = run.epochs.map((record) => ({ epoch: record.epoch, value: numberOrNaN(record.learningRate) })).filter((p) => Number.isFinite(p.value));
    const key = JSON.stringify(points);
    const entry = bySchedule.get(key) ?? { labels: [], points };
    const label = runConfigurationLabel(run);
    if (!entry.labels.includes(label)) entry.labels.push(label);
    bySchedule.set(key, entry);
  }
  const configurations = new Set(section.runs.map(runConfigurationLabel)).size;
  return [...bySchedule.values()].flatMap(({ labels, points }) => {
    const name =
      labels.length === configurations && configurations > 1 ? `all ${configurations} configurations` : labels.length > 3 ? `${labels.length} configurations` : labels.join(', ');
    return points.map((p) => ({ configuration: name, epoch: p.epoch, value: p.value, seed: 0 }));
  });
}

/** `module3.cascade` → module 3, kind cascade; other names are their own module and kind. */
function splitTerm(term: string): { module: string; kind: string } {
  const match = /^module(\d+)\.(.+)$/.exec(term);
  return match ? { module: `module ${match[1]}`, kind: match[2]! } : { module: term, kind: 'loss' };
}

/**
 * Why MLM's independent terms stay high: METHOD §5 weights them by wx beside the cascade's wy
 * (0.001 and 0.999 in both profiles of @mlaan/mlm), so the independent heads hardly train.
 */
function mlmIndependentNote(profile: keyof typeof MLM_PROFILES): string[] {
  const { wx, wy } = MLM_PROFILES[profile];
  return [
    `MLM weights each module’s independent loss by wx = ${wx}`,
    `and its cascade by wy = ${wy} (METHOD §5): the independent`,
    'heads hardly train, so a classifier’s independent loss stays',
    'near chance (ln 10 = 2.30) by design.',
  ];
}

/** Test error, test loss and learning rate per epoch, and each configuration's module losses. */
async function epochCharts(section: Section): Promise<Chart[]> {
  const perEpoch = (pick: (record: Section['runs'][number]['epochs'][number]) => number) =>
    section.runs.flatMap((run) =>
      run.epochs.map((record) => ({ configuration: runConfigurationLabel(run), epoch: record.epoch, value: numberOrNaN(pick(record)), seed: run.config.seed })).filter((p) => Number.isFinite(p.value)),
    );
  const rates = learningRateLines(section);
  const sharedRate = new Set(rates.map((p) => p.configuration)).size === 1 && new Set(section.runs.map(runConfigurationLabel)).size > 1;
  const charts: Chart[] = [
    {
      file: `${section.slug}-test-error-per-epoch.svg`,
      title: 'Test error per epoch',
      svg: await renderSvg(perEpochSpec('Test error per epoch', 'test error (%)', perEpoch((r) => r.testErrorPercent))),
    },
    {
      file: `${section.slug}-test-loss-per-epoch.svg`,
      title: 'Test loss per epoch',
      svg: await renderSvg(perEpochSpec('Test loss per epoch', 'test loss (cross-entropy)', perEpoch((r) => r.testLoss))),
    },
    {
      file: `${section.slug}-learning-rate.svg`,
      title: 'Learning rate per epoch',
      svg: await renderSvg(
        perEpochSpec('Learning rate each epoch trained at', 'learning rate', rates, {
          zero: true,
          format: '.3~g',
          notes: sharedRate ? ['every configuration trained at these rates: one line'] : ['configurations with the same rates share a line'],
        }),
      ),
    },
  ];
  // The local-learning view: how each module's own loss evolves, one chart per configuration.
  const configurations = [...new Set(section.runs.filter((run) => run.config.framework !== 'e2e').map(runConfigurationLabel))];
  for (const [index, configuration] of configurations.entries()) {
    const runs = section.runs.filter((run) => runConfigurationLabel(run) === configuration);
    const points = runs
      .flatMap((run) =>
        run.epochs.flatMap((record) =>
          Object.entries(record.moduleLosses ?? {}).map(([term, value]) => ({ configuration: term, ...splitTerm(term), epoch: record.epoch, value: numberOrNaN(value), seed: run.config.seed })),
        ),
      )
      .filter((p) => Number.isFinite(p.value));
    if (points.length === 0) continue;
    const withMlm = runs.some((run) => run.config.plugins === 'mlm' || run.config.plugins === 'mlaan');
    charts.push({
      file: `${section.slug}-module-losses-${index + 1}.svg`,
      title: `Module losses: ${configuration}`,
      svg: await renderSvg(
        // The configuration on a line of its own: a long label in the bold title widens the chart.
        perEpochSpec('Training loss of each loss term', 'epoch mean of the term', points, {
          byModuleAndKind: true,
          about: configuration,
          notes: withMlm ? mlmIndependentNote(runs[0]!.config.mlaanProfile) : [],
        }),
      ),
    });
  }
  return charts;
}

/** Test error vs K, memory vs K, per-epoch curves and training-loss curves of one section. */
export async function sectionCharts(section: Section): Promise<Chart[]> {
  const charts: Chart[] = [];
  const points = (pick: (run: Section['runs'][number]) => number) =>
    section.runs
      .map((run) => ({ method: run.method, K: run.modules, value: pick(run), seed: run.config.seed, e2e: run.config.framework === 'e2e' }))
      .filter((p) => Number.isFinite(p.value));
  const split = (all: (Point & { e2e: boolean })[]) => [all.filter((p) => !p.e2e), all.filter((p) => p.e2e)] as const;
  // The papers' numbers are drawn only beside runs trained like them (the tables list them apart otherwise).
  const publishedErrors = trainedLikeThePapers(section)
    ? section.summaries
        .filter((s) => s.published.testErrorPercent !== undefined)
        .map((s) => ({ method: s.method, K: s.modules, value: s.published.testErrorPercent!, seed: -1 }))
    : [];

  const [localError, e2eError] = split(points((run) => numberOrNaN(run.testErrorPercent.best)));
  charts.push({
    file: `${section.slug}-error-vs-k.svg`,
    title: 'Test error vs K',
    svg: await renderSvg(
      versusKSpec('Test error (best epoch) vs K', 'test error (%)', localError, e2eError, { published: publishedErrors, minimumSpan: ERROR_AXIS_MINIMUM_SPAN, upperLimit: 100 }),
    ),
  });

  // Pipelined runs' step memory is one worker's, not the model's: not plotted against the sequential runs.
  const [localMemory, e2eMemory] = split(points((run) => (stepMemoryWorkers(run) > 1 ? NaN : stepPeakBytes(run) / 2 ** 20)));
  charts.push({
    file: `${section.slug}-memory-vs-k.svg`,
    title: 'Training step memory vs K',
    svg: await renderSvg(versusKSpec('Training step memory vs K', 'step memory (MiB)', localMemory, e2eMemory, { published: [] })),
  });

  charts.push(...(await epochCharts(section)));

  const curves = section.runs.flatMap((run) =>
    run.lossCurve
      .filter((p) => Number.isFinite(numberOrNaN(p.loss)))
      .map((p) => ({ run: runConfigurationLabel(run), id: run.id, epoch: p.epoch, loss: p.loss })),
  );
  charts.push({
    file: `${section.slug}-loss-curves.svg`,
    title: 'Training loss',
    svg: await renderSvg({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Training loss of the last module (window means)',
      width: WIDTH,
      height: HEIGHT,
      background: 'white',
    config: CONFIG,
      data: { values: curves },
      mark: { type: 'line', point: curves.length < 60 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: EPOCH_AXIS },
        y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { zero: false }, axis: { format: ',.4~r' } },
        color: { field: 'run', type: 'nominal', title: 'Configuration', scale: { scheme: colorScheme(new Set(curves.map((c) => c.run)).size) }, legend: { symbolType: 'stroke', symbolStrokeWidth: 2 } },
        detail: { field: 'id', type: 'nominal' },
      },
    } as TopLevelSpec),
  });
  return charts;
}
