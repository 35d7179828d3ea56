import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { numberOrNaN, type Section, stepMemoryWorkers, stepPeakBytes } from './aggregate.js';

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

/**
 * A metric against K, one line per method (mean over seeds, error bars ± 1 std), E2E as a dashed
 * horizontal rule since it has no K, and the paper's numbers as hollow diamonds where known.
 */
function versusKSpec(title: string, yTitle: string, local: Point[], e2e: Point[], published: Point[], zero: boolean): TopLevelSpec {
  const shownPublished = local.length ? published.filter((p) => p.K > 1) : [];
  const subtitle = [
    ...(e2e.length ? ['dashed: E2E (no K)'] : []),
    ...(shownPublished.length ? ['◇: published (InfoPro paper)'] : []),
    ...(local.some((p, i) => local.findIndex((q) => q.method === p.method && q.K === p.K) !== i) ? ['bars: ± 1 std over seeds'] : []),
  ].join(' · ');
  const layers: object[] = [];
  const x = { field: 'K', type: 'ordinal', title: 'K (local modules)', axis: { labelAngle: 0 } };
  const color = { field: 'method', type: 'nominal', title: 'Method' };
  if (local.length) {
    layers.push(
      {
        data: { values: local },
        mark: { type: 'line', point: true },
        encoding: { x, y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: yTitle, scale: { zero }, axis: { format: ',.4~r' } }, color },
      },
      {
        data: { values: local },
        mark: { type: 'errorbar', extent: 'stdev' },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: yTitle }, color },
      },
    );
  }
  if (e2e.length) {
    layers.push({
      data: { values: e2e },
      mark: { type: 'rule', strokeDash: [6, 4] },
      encoding: { y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: yTitle }, color },
    });
  }
  if (shownPublished.length) {
    layers.push({
      data: { values: shownPublished },
      mark: { type: 'point', shape: 'diamond', filled: false, size: 80 },
      encoding: { x, y: { field: 'value', type: 'quantitative', title: yTitle }, color },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: subtitle ? { text: title, subtitle } : title,
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
  configuration: string;
  epoch: number;
  value: number;
  seed: number;
}

/**
 * A per-epoch metric, one line per configuration (method and K): the mean over seeds, and with
 * several seeds a band from the lowest to the highest seed.
 */
function perEpochSpec(title: string, yTitle: string, points: EpochPoint[], options: { zero?: boolean; format?: string; legend?: string } = {}): TopLevelSpec {
  const seeds = new Set(points.map((p) => p.seed)).size;
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: EPOCH_AXIS };
  const y = { type: 'quantitative', title: yTitle, scale: { zero: options.zero ?? false }, axis: { format: options.format ?? ',.4~r' } };
  const color = { field: 'configuration', type: 'nominal', title: options.legend ?? 'Configuration' };
  const layers: object[] = [{ mark: { type: 'line', point: true }, encoding: { x, y: { ...y, aggregate: 'mean', field: 'value' }, color } }];
  if (seeds > 1) layers.unshift({ mark: { type: 'errorband', extent: 'stdev', opacity: 0.2 }, encoding: { x, y: { ...y, field: 'value' }, color } });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: seeds > 1 ? { text: title, subtitle: `line: mean over ${seeds} seeds · band: ± 1 std over seeds` } : title,
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: CONFIG,
    data: { values: points },
    layer: layers,
  } as TopLevelSpec;
}

/** Test error, test loss and learning rate per epoch, and each configuration's module losses. */
async function epochCharts(section: Section): Promise<Chart[]> {
  const label = (run: Section['runs'][number]) => (run.config.framework === 'e2e' ? run.method : `${run.method} K=${run.modules}`);
  const perEpoch = (pick: (record: Section['runs'][number]['epochs'][number]) => number) =>
    section.runs.flatMap((run) =>
      run.epochs.map((record) => ({ configuration: label(run), epoch: record.epoch, value: numberOrNaN(pick(record)), seed: run.config.seed })).filter((p) => Number.isFinite(p.value)),
    );
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
      svg: await renderSvg(perEpochSpec('Learning rate each epoch trained at', 'learning rate', perEpoch((r) => r.learningRate), { zero: true, format: '.3~g' })),
    },
  ];
  // The local-learning view: how each module's own loss evolves, one chart per configuration.
  const configurations = [...new Set(section.runs.filter((run) => run.config.framework !== 'e2e').map(label))];
  for (const [index, configuration] of configurations.entries()) {
    const points = section.runs
      .filter((run) => label(run) === configuration)
      .flatMap((run) =>
        run.epochs.flatMap((record) =>
          Object.entries(record.moduleLosses ?? {}).map(([term, value]) => ({ configuration: term, epoch: record.epoch, value: numberOrNaN(value), seed: run.config.seed })),
        ),
      )
      .filter((p) => Number.isFinite(p.value));
    if (points.length === 0) continue;
    charts.push({
      file: `${section.slug}-module-losses-${index + 1}.svg`,
      title: `Module losses: ${configuration}`,
      svg: await renderSvg(perEpochSpec(`Training loss of each loss term: ${configuration}`, 'epoch mean of the term', points, { legend: 'Loss term' })),
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
  const publishedErrors = section.summaries
    .filter((s) => s.published.testErrorPercent !== undefined)
    .map((s) => ({ method: s.method, K: s.modules, value: s.published.testErrorPercent!, seed: -1 }));

  const [localError, e2eError] = split(points((run) => numberOrNaN(run.testErrorPercent.best)));
  charts.push({
    file: `${section.slug}-error-vs-k.svg`,
    title: 'Test error vs K',
    svg: await renderSvg(versusKSpec('Test error (best epoch) vs K', 'test error (%)', localError, e2eError, publishedErrors, false)),
  });

  // Pipelined runs' step memory is one worker's, not the model's: not plotted against the sequential runs.
  const [localMemory, e2eMemory] = split(points((run) => (stepMemoryWorkers(run) > 1 ? NaN : stepPeakBytes(run) / 2 ** 20)));
  charts.push({
    file: `${section.slug}-memory-vs-k.svg`,
    title: 'Training step memory vs K',
    svg: await renderSvg(versusKSpec('Training step memory vs K', 'step memory (MiB)', localMemory, e2eMemory, [], true)),
  });

  charts.push(...(await epochCharts(section)));

  const curves = section.runs.flatMap((run) =>
    run.lossCurve
      .filter((p) => Number.isFinite(numberOrNaN(p.loss)))
      .map((p) => ({ run: `${run.method} K=${run.modules}`, id: run.id, epoch: p.epoch, loss: p.loss })),
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
        color: { field: 'run', type: 'nominal', title: 'Configuration' },
        detail: { field: 'id', type: 'nominal' },
      },
    } as TopLevelSpec),
  });
  return charts;
}
