import { stableStringify } from '../configuration/configuration-id.js';
import type { RunConfig } from '../configuration/settings.js';
import { aggregate, numberOrNaN, type Section, statistic, type Statistic, type Summary } from './aggregate.js';
import { configurationLabel } from './labels.js';
import type { RunResult } from './result-format.js';
import type { TableModel } from './tables.js';

/**
 * What a plugin set does to its host: the same configuration trained with and without the plugins
 * (same framework, K, head, protocol), compared on the final model's test error over seeds.
 */
export interface PluginEffect {
  host: Summary;
  withPlugins: Summary;
  /** Test error (last epoch) of each seed, as trained. */
  hostErrors: number[];
  withPluginsErrors: number[];
  /** Over the seeds. */
  hostError: Statistic;
  withPluginsError: Statistic;
  /** Mean with plugins minus mean of the host, in points of test error: negative = the plugins help. */
  difference: number;
  /** √(s₁²/n₁ + s₂²/n₂): NaN with fewer than two seeds on either side. */
  standardError: number;
  /**
   * Beyond the spread of the seeds: at least two seeds on each side, every seed of one side on the
   * same side of every seed of the other, and the difference at least two standard errors.
   */
  beyondSpread: boolean;
  /** Every plugin seed below (or above) every host seed. */
  seedsOrdered: boolean;
}

/** The key of a configuration without what varies between the two sides and between seeds. */
function pairKey(config: RunConfig): string {
  const { seed: _seed, plugins: _plugins, backend: _backend, ...rest } = config;
  return stableStringify(rest);
}

const lastErrors = (runs: readonly RunResult[]) => runs.map((run) => numberOrNaN(run.testErrorPercent.last)).filter(Number.isFinite);

/** Every (host, host + plugins) pair of a section. */
export function pluginEffects(section: Section): PluginEffect[] {
  const runsOf = (summary: Summary) => section.runs.filter((run) => summary.ids.includes(run.id));
  const keyOf = (summary: Summary) => pairKey(runsOf(summary)[0]!.config);
  const effects: PluginEffect[] = [];
  for (const withPlugins of section.summaries.filter((s) => s.plugins !== 'none' && s.framework !== 'e2e')) {
    const host = section.summaries.find((s) => s.plugins === 'none' && keyOf(s) === keyOf(withPlugins));
    if (!host) continue;
    const hostErrors = lastErrors(runsOf(host));
    const withPluginsErrors = lastErrors(runsOf(withPlugins));
    const [a, b] = [statistic(hostErrors), statistic(withPluginsErrors)];
    const difference = b.mean - a.mean;
    const standardError = a.n > 1 && b.n > 1 ? Math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n) : NaN;
    const seedsOrdered =
      a.n > 1 && b.n > 1 && (Math.max(...withPluginsErrors) < Math.min(...hostErrors) || Math.min(...withPluginsErrors) > Math.max(...hostErrors));
    effects.push({
      host,
      withPlugins,
      hostErrors,
      withPluginsErrors,
      hostError: a,
      withPluginsError: b,
      difference,
      standardError,
      seedsOrdered,
      beyondSpread: seedsOrdered && Math.abs(difference) >= 2 * standardError,
    });
  }
  return effects;
}

const points = (value: number) => `${Math.abs(value).toFixed(2)} points ${value < 0 ? 'lower' : 'higher'}`;

/** One line: how large the difference is and how sure, in the seeds' own terms. */
export function describeEffect(effect: PluginEffect): string {
  const { hostError: a, withPluginsError: b } = effect;
  const pluginName = effect.withPlugins.method.slice(effect.host.method.length + 1) || effect.withPlugins.plugins;
  const head = `${pluginName} on ${configurationLabel(effect.host)}: test error ${points(effect.difference)}`;
  if (!Number.isFinite(effect.standardError)) {
    return `${head} (${b.mean.toFixed(2)} % against ${a.mean.toFixed(2)} %; ${Math.min(a.n, b.n)} seed: no spread measured, so this says nothing about noise).`;
  }
  const seeds = `seeds ${effect.host.seeds.join(', ')} / ${effect.withPlugins.seeds.join(', ')}`;
  const ratio = Math.abs(effect.difference) / effect.standardError;
  const verdict = effect.beyondSpread
    ? `every ${pluginName} seed ${effect.difference < 0 ? 'below' : 'above'} every host seed: beyond the seeds’ spread`
    : effect.seedsOrdered
      ? 'every seed on one side, but under two standard errors: not yet beyond the seeds’ spread'
      : 'the seeds overlap: within the seeds’ spread';
  return `${head} (${b.mean.toFixed(2)} ± ${b.std.toFixed(2)} % against ${a.mean.toFixed(2)} ± ${a.std.toFixed(2)} %, ${seeds}; ${ratio.toFixed(1)} standard errors of the difference; ${verdict}).`;
}

/** The section's pairs as a table: a reader's first question is what the plugins changed. */
export function effectsTable(section: Section): TableModel | undefined {
  const effects = pluginEffects(section);
  if (effects.length === 0) return undefined;
  return {
    title: 'What the plugins change: test error (%), last epoch',
    header: ['Host', 'Plugins', 'Host', 'With plugins', 'Difference', 'Standard error', 'Verdict'],
    rows: effects.map((effect) => [
      configurationLabel(effect.host),
      effect.withPlugins.plugins.toUpperCase(),
      formatMeanStd(effect.hostError),
      formatMeanStd(effect.withPluginsError),
      `${effect.difference > 0 ? '+' : ''}${effect.difference.toFixed(2)}`,
      Number.isFinite(effect.standardError) ? effect.standardError.toFixed(2) : '–',
      effect.beyondSpread ? 'beyond the seeds’ spread' : effect.seedsOrdered ? 'seeds ordered, < 2 standard errors' : Number.isFinite(effect.standardError) ? 'within the seeds’ spread' : 'one seed: spread not measured',
    ]),
    notes: [
      'Difference: mean with plugins minus mean of the host (negative: the plugins lower the error). Standard error of the difference: √(s₁²/n₁ + s₂²/n₂). ' +
        '“Beyond the seeds’ spread”: at least two seeds each, every seed of one side below every seed of the other, and at least two standard errors apart.',
    ],
  };
}

function formatMeanStd(stat: Statistic): string {
  return stat.n > 1 ? `${stat.mean.toFixed(2)} ± ${stat.std.toFixed(2)}` : stat.mean.toFixed(2);
}

/** The section of `reference` trained on the same protocol as `section` (the seeds and the backend aside). */
export function matchingSection(section: Section, reference: readonly Section[]): Section | undefined {
  const { backend: _backend, ...protocol } = section.config;
  return reference.find((candidate) => {
    const { backend: _b, ...other } = candidate.config;
    return stableStringify(other) === stableStringify(protocol);
  });
}

/**
 * What the main job prints after training: each configuration's test error, step memory and
 * speed side by side, then for each host and host + plugins one line on the difference in this run
 * and on the spread the committed seed runs of the same protocol (`reference`) measured.
 */
export function mainJobSummary(fresh: readonly RunResult[], reference: readonly RunResult[], referenceName: string): string[] {
  const lines: string[] = [];
  const referenceSections = aggregate(reference);
  for (const section of aggregate(fresh)) {
    const seeds = [...new Set(section.runs.map((run) => run.config.seed))].join(', ');
    lines.push(`Side by side (this run, seed ${seeds}; test error of the last epoch on ${section.runs[0]!.testImages.toLocaleString('en-US')} test images):`, '');
    const table: string[][] = [['Configuration', 'Test error %', 'Step memory MiB', 'Images/s']];
    for (const summary of section.summaries) {
      table.push([configurationLabel(summary), summary.lastErrorPercent.mean.toFixed(2), summary.stepMemoryMiB.mean.toFixed(0), summary.imagesPerSecond.mean.toFixed(1)]);
    }
    const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
    for (const row of table) lines.push(`  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('   ')}`);
    lines.push('');
    const measured = matchingSection(section, referenceSections);
    for (const effect of pluginEffects(section)) {
      const memory = effect.withPlugins.stepMemoryMiB.mean / effect.host.stepMemoryMiB.mean;
      const speed = effect.withPlugins.imagesPerSecond.mean / effect.host.imagesPerSecond.mean;
      const here = `${describeEffectShort(effect)}, at ${memory.toFixed(2)}x the host’s step memory and ${speed.toFixed(2)}x its speed.`;
      const chosen = measured && pluginEffects(measured).find((e) => configurationLabel(e.withPlugins) === configurationLabel(effect.withPlugins));
      lines.push(
        here,
        chosen
          ? `How sure: when this protocol was chosen (${referenceName}), ${describeEffect(chosen)}`
          : `How sure: ${referenceName} has no seed runs of this protocol (other options than the preset’s?), so this run alone cannot tell the difference from noise.`,
      );
    }
  }
  return lines;
}

function describeEffectShort(effect: PluginEffect): string {
  const pluginName = effect.withPlugins.method.slice(effect.host.method.length + 1) || effect.withPlugins.plugins;
  return `${pluginName} on ${configurationLabel(effect.host)}: ${effect.withPluginsError.mean.toFixed(2)} % against ${effect.hostError.mean.toFixed(2)} % test error in this run, ${points(effect.difference)}`;
}

/**
 * The runs of the section that holds the most recently finished run: an output folder reused
 * across protocols (the main job's, after a change of preset) also holds older sections.
 */
export function latestSectionRuns(results: readonly RunResult[]): RunResult[] {
  if (results.length === 0) return [];
  const latest = [...results].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)).at(-1)!;
  return aggregate(results).find((section) => section.runs.some((run) => run.id === latest.id))!.runs;
}
