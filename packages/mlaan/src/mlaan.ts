import { LocalLearningPlugin, MlaanError } from '@mlaan/core';
import { lam, LamOptions, LamPlugin } from '@mlaan/lam';
import { mlm, MlmOptions } from '@mlaan/mlm';

/** Bad withMLAAN() options. */
export class MlaanOptionsError extends MlaanError {}

/**
 * `paper` (default): kc = 3, EMA on every LAM, weighted last loss, every module both losses.
 * `reference`: `CIFAR-SVHN-STL/networks/resnetMLAAN.py` exactly: kc = 2, the first cascade starts
 * at the stem (module 0 has no loss of its own), only the last LAM's twin follows the EMA (the
 * authors' bug), last loss = cascaded CE only, running statistics as its repeated forwards leave them.
 */
export type MlaanProfileName = 'paper' | 'reference';

export const MLAAN_PROFILES: readonly MlaanProfileName[] = ['paper', 'reference'];

export interface MlaanOptions
  extends Omit<MlmOptions, 'profile'>,
    Omit<LamOptions, 'profile'> {
  profile?: MlaanProfileName;
}

const MLM_KEYS = ['cascadeWindow', 'wx', 'wy', 'shortWindows', 'lastLoss', 'runningStatistics'] as const;
const LAM_KEYS = ['emaDecay', 'emaUpdates', 'target', 'leapBlocks', 'maxDepth'] as const;

/**
 * MLAAN = MLM + LAM, as the pair of plugins to add after a host:
 * `new LocalTrainer({ backbone, cuts, plugins: [dgl(), ...withMLAAN()] })`.
 * Options go to the plugin they belong to; unknown options are an error.
 */
export function withMLAAN(options: MlaanOptions = {}): [LocalLearningPlugin, LamPlugin] {
  const profile = options.profile ?? 'paper';
  if (!MLAAN_PROFILES.includes(profile)) {
    throw new MlaanOptionsError(`withMLAAN(): unknown profile '${profile}'. Use one of: ${MLAAN_PROFILES.join(', ')}.`);
  }
  const known = new Set<string>(['profile', ...MLM_KEYS, ...LAM_KEYS]);
  const unknown = Object.keys(options).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new MlaanOptionsError(
      `withMLAAN(): unknown option(s) ${unknown.map((k) => `'${k}'`).join(', ')}. Known: ${[...known].join(', ')}.`,
    );
  }
  const pick = <K extends string>(keys: readonly K[]) =>
    Object.fromEntries(keys.filter((k) => (options as Record<string, unknown>)[k] !== undefined).map((k) => [k, (options as Record<string, unknown>)[k]]));
  return [mlm({ profile, ...pick(MLM_KEYS) } as MlmOptions), lam({ profile, ...pick(LAM_KEYS) } as LamOptions)];
}

/** Alias of `withMLAAN`. */
export const mlaan = withMLAAN;
