import type { Command } from 'commander';
import { optionsOfConfig, pluginBuildContext } from '../configuration/configuration-facts.js';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { warmupWarning } from '../configuration/schedules.js';
import type { RunConfig } from '../configuration/settings.js';
import { BenchOptionError } from '../errors.js';
import { createReporter } from '../progress.js';
import { FRAMEWORK_NAMES, frameworkDefinition } from '../registry/frameworks.js';
import { metricTable, tableToMarkdown } from '../results/tables.js';
import { runGrid } from '../runner.js';
import { commandLine, EXIT, type IO } from './io.js';
import { executionFrom, presetFrom, progressFrom, settingsFrom } from './training-options.js';

/** Before anything trains: each host's own checks of its configurations (InfoPro's λ). */
async function checkConfigurations(configs: readonly RunConfig[]): Promise<void> {
  for (const config of configs) await frameworkDefinition(config.framework).checkConfiguration?.(pluginBuildContext(config), optionsOfConfig(config));
}

/** `run` trains one configuration: a list for --framework, --plugins or --K is refused in its words. */
function checkSingle(given: ReturnType<typeof settingsFrom>): void {
  for (const [name, values] of [
    ['--framework', given.frameworks],
    ['--plugins', given.pluginSets],
    ['--K', given.Ks],
  ] as const) {
    if (values && values.length > 1) {
      throw new BenchOptionError(`mlaan-bench run trains one configuration, but ${name} has ${values.length} values. Give one, or use mlaan-bench ablation for a grid.`);
    }
  }
  if (given.Ks && given.frameworks && given.frameworks.every((f) => !frameworkDefinition(f).local)) {
    const local = FRAMEWORK_NAMES.filter((f) => frameworkDefinition(f).local);
    throw new BenchOptionError(`--K does not apply to ${given.frameworks.join(', ')} (end-to-end training is one module). Drop --K, or choose --framework ${local.join(' or ')}.`);
  }
}

/**
 * `run` and `ablation`: the settings the command line names, the grid they expand to, the checks
 * before anything trains, then the grid run with Ctrl-C as "stop after this step", and the tables
 * a user reads first.
 */
export async function trainCommand(kind: 'run' | 'ablation', command: Command, argv: readonly string[], io: IO): Promise<number> {
  const given = settingsFrom(command);
  if (kind === 'run') checkSingle(given);
  let settings = resolveSettings(presetFrom(command), given);
  if (kind === 'run') {
    // A preset's grid collapses to its first framework, plugin set and K unless the options name them.
    settings = { ...settings, frameworks: settings.frameworks.slice(0, 1), pluginSets: settings.pluginSets.slice(0, 1), Ks: settings.Ks.slice(0, 1), rows: settings.rows?.slice(0, 1) };
  }
  const configs = expandGrid(settings);
  await checkConfigurations(configs);
  const execution = executionFrom(command);
  const reporter = createReporter(progressFrom(command), io.stderr);
  reporter.info(`mlaan-bench ${kind}: ${configs.length} configuration(s) → ${execution.outDir}`);
  // Before anything trains: a schedule that never leaves warm-up trains at a fraction of --lr.
  for (const warning of new Set(configs.map((config) => warmupWarning(config)))) {
    if (warning) reporter.info(`warning: ${warning}`);
  }

  const stop = { requested: false };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.requested) process.exit(EXIT.interrupted);
    stop.requested = true;
    reporter.info(`${signal}: stopping after this step and saving a checkpoint (send it again to quit at once).`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await runGrid(configs, settings.backend, execution, reporter, stop, commandLine(argv));
    if (outcome.skipped > 0) {
      reporter.info(`${outcome.skipped} configuration(s) had finished in an earlier run and were skipped (their results are kept). Add --force to train them again.`);
    }
    reporter.close();
    if (outcome.report) {
      for (const section of outcome.report.sections) {
        // What a user reads first: how well each method learned, and what its training step costs.
        const tables = (['bestError', 'memory', 'throughput'] as const).map((metric) => tableToMarkdown(metricTable(section, metric)));
        io.stdout.write(`\n## ${section.title}\n\n${tables.join('\n\n')}\n`);
      }
      io.stdout.write(`\nReport: ${execution.outDir}/report.html (also results.json, results.csv, results.md, charts/)\n`);
    }
    if (outcome.failures.length > 0) {
      io.stderr.write(`\n${outcome.failures.length} configuration(s) failed:\n${outcome.failures.map((f) => `- ${f.label}: ${f.message}`).join('\n')}\n`);
      return EXIT.failed;
    }
    if (outcome.interrupted) {
      io.stderr.write('Interrupted. Rerun the same command to resume: finished configurations are skipped, the interrupted one continues from its checkpoint.\n');
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } finally {
    reporter.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
