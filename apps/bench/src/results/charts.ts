import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { numberOrNaN, type Section } from './aggregate.js';

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

const WIDTH = 420;
const HEIGHT = 260;

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
        encoding: { x, y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: yTitle, scale: { zero } }, color },
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
    layer: layers,
  } as TopLevelSpec;
}

/** Test error vs K, memory vs K and training-loss curves of one section. */
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

  const [localMemory, e2eMemory] = split(points((run) => numberOrNaN(run.memory.peakTensorBytes) / 2 ** 20));
  charts.push({
    file: `${section.slug}-memory-vs-k.svg`,
    title: 'Peak memory vs K',
    svg: await renderSvg(versusKSpec('Peak tensor memory vs K', 'peak tensor memory (MiB)', localMemory, e2eMemory, [], true)),
  });

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
      data: { values: curves },
      mark: { type: 'line', point: curves.length < 60 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { zero: false } },
        color: { field: 'run', type: 'nominal', title: 'Configuration' },
        detail: { field: 'id', type: 'nominal' },
      },
    } as TopLevelSpec),
  });
  return charts;
}
