import { ConfigError, LocalLearningPlugin, rejectUnknownOptions } from '@mlaan/core';
import { lam, LamOptions, LamPlugin } from '@mlaan/lam';
import { mlm, MlmOptions } from '@mlaan/mlm';

/** Bad withMLAAN() options. */
export class MlaanOptionsError extends ConfigError {}

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

/**
 * MLAAN = MLM + LAM, as the pair of plugins to add after a host:
 * `new LocalTrainer({ backbone, cuts, plugins: [dgl(), ...withMLAAN()] })`.
 * Each option goes to the plugin that takes it (`mlm.options`, `lam.options`), which checks it;
 * an option neither takes is an error.
 */
export function withMLAAN(options: MlaanOptions = {}): [LocalLearningPlugin, LamPlugin] {
  const profile = options.profile ?? 'paper';
  if (!MLAAN_PROFILES.includes(profile)) {
    throw new MlaanOptionsError(`withMLAAN(): unknown profile '${profile}'. Use one of: ${MLAAN_PROFILES.join(', ')}.`);
  }
  const known = [...new Set([...mlm.options.names, ...lam.options.names])];
  rejectUnknownOptions('withMLAAN()', options, known, MlaanOptionsError);
  return [mlm({ ...mlm.options.pick(options), profile }), lam({ ...lam.options.pick(options), profile })];
}

/** Alias of `withMLAAN`. */
export const mlaan = withMLAAN;
