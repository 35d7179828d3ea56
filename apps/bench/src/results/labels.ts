import type { RunResult } from './result-format.js';

/**
 * How a configuration is named in every table, chart and summary: `DGL[linear head]+MLAAN K=8`,
 * and plain `E2E` for end-to-end training, which has no local modules (the tables still put it in
 * the K=1 column, since it trains the network as one piece).
 */
export function configurationLabel(configuration: { method: string; modules: number; framework: string }): string {
  return configuration.framework === 'e2e' ? configuration.method : `${configuration.method} K=${configuration.modules}`;
}

/** {@link configurationLabel} of a finished run. */
export function runConfigurationLabel(run: Pick<RunResult, 'method' | 'modules' | 'config'>): string {
  return configurationLabel({ method: run.method, modules: run.modules, framework: run.config.framework });
}
