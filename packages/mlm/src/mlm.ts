import {
  BatchNorm,
  ConfigError,
  type ConfigOf,
  definePlugin,
  defaultTerms,
  HeadRoles,
  Layer,
  LossTerm,
  option,
  type PluginOptions,
  Residual,
  SetupContext,
  Sequential,
} from '@mlaan/core';

/** Bad MLM options, or options that do not fit the partition they meet. */
export class MlmError extends ConfigError {}

/**
 * What a module whose full window would reach before module 0 gets.
 * - `clip`: a cascade over the modules that exist, `[0, i]` (every module has two losses).
 * - `skip`: no loss at all, as in the authors' code, whose first cascade starts at the stem and
 *   spans a full window (modules `0 .. window-2` are trained only through later cascades).
 */
export type ShortWindowRule = 'clip' | 'skip';

/**
 * The last module's loss (its heads are the backbone classifier).
 * - `weighted`: `wx * CE(fc(E_{K-1}(xdet))) + wy * CE(fc(cascade))` (the paper, the ImageNet code).
 * - `cascade`: the cascaded cross-entropy alone, weight 1 (`resnetMLAAN.py` overwrites the first).
 */
export type LastLossRule = 'weighted' | 'cascade';

/**
 * How batch-norm running statistics advance per step.
 * - `once`: once per module, as every module is forwarded once here.
 * - `per-forward`: as often as the authors' code forwards the module: once on the independent path
 *   and once more for every cascade window containing it (the stem: once). With the same batch
 *   statistics each time, n updates of momentum m equal one update of momentum 1 - (1 - m)^n,
 *   which is what this sets on the backbone's batch-norm layers (restored on dispose).
 */
export type RunningStatisticsRule = 'once' | 'per-forward';

/** MLM's options, declared once: each rule is an option's type, default and check. */
const mlmRules = {
  /** Modules in each cascaded window (kc). */
  cascadeWindow: option.integer({ min: 1, meaning: 'modules per cascade' }),
  /** Weight of the independent (host) loss. */
  wx: option.finiteNumber({ min: 0, meaning: 'a loss weight' }),
  /** Weight of the cascaded loss. */
  wy: option.finiteNumber({ min: 0, meaning: 'a loss weight' }),
  /** What a module whose full window would reach before module 0 gets (`ShortWindowRule`). */
  shortWindows: option.oneOf<ShortWindowRule>(['clip', 'skip']),
  /** The last module's loss (`LastLossRule`). */
  lastLoss: option.oneOf<LastLossRule>(['weighted', 'cascade']),
  /** How batch-norm running statistics advance per step (`RunningStatisticsRule`). */
  runningStatistics: option.oneOf<RunningStatisticsRule>(['once', 'per-forward']),
  /**
   * Shorten the cascade window to the number of modules when it is longer (at K = 2 a window of 3
   * covers both modules), instead of rejecting the partition. Default false: a window longer than
   * the partition is an error, as the method's kc then is not what was asked for.
   */
  clipWindowToModules: option.boolean(false),
};

/** MLM's options once resolved: the profile's values, overridden by the options given. */
export type MlmConfig = ConfigOf<typeof mlmRules>;

/** What a profile sets: every option but `clipWindowToModules`. */
export type MlmProfile = Omit<MlmConfig, 'clipWindowToModules'>;

/**
 * METHOD §5. `paper`: kc = 3, every module gets both losses, weighted last loss.
 * `reference`: `CIFAR-SVHN-STL/networks/resnetMLAAN.py` exactly (kc = 2, the first cascade starts
 * at the stem, last loss = cascaded CE only, running statistics as its repeated forwards leave them).
 */
export const MLM_PROFILES = {
  paper: { cascadeWindow: 3, wx: 0.001, wy: 0.999, shortWindows: 'clip', lastLoss: 'weighted', runningStatistics: 'once' },
  reference: {
    cascadeWindow: 2,
    wx: 0.001,
    wy: 0.999,
    shortWindows: 'skip',
    lastLoss: 'cascade',
    runningStatistics: 'per-forward',
  },
} as const satisfies Record<string, MlmProfile>;

export type MlmProfileName = keyof typeof MLM_PROFILES;

/** Name of module i's cascaded loss term. */
export function cascadeTermName(moduleIndex: number): string {
  return `module${moduleIndex}.cascade`;
}

function isIndependentOf(term: LossTerm, moduleIndex: number): boolean {
  return term.role === HeadRoles.independent && term.span[0] === moduleIndex && term.span[1] === moduleIndex;
}

/**
 * MLM's rewrite of the loss terms of K modules: every module's own (independent) terms scaled by
 * wx, plus a cascade over `[max(0, i - kc + 1), i]` weighted wy; the short-window and last-loss
 * rules decide the first modules and the last. Terms that are not a module's own single-module
 * independent loss pass through unchanged. Output order: by module, independent before cascade.
 */
export function cascadeTerms(
  moduleCount: number,
  terms: readonly LossTerm[],
  config: MlmProfile & { clipWindowToModules?: boolean },
): LossTerm[] {
  const K = moduleCount;
  const window = config.clipWindowToModules ? Math.min(config.cascadeWindow, K) : config.cascadeWindow;
  if (window > K) {
    throw new MlmError(
      `mlm(): cascadeWindow ${window} is longer than the ${K} local module(s) of this partition. ` +
        `Use cascadeWindow <= ${K}, pass clipWindowToModules: true to shorten it to the partition, or split the backbone into more modules.`,
    );
  }
  const existing = terms.find((t) => t.role === HeadRoles.cascade);
  if (existing) {
    throw new MlmError(
      `mlm(): the terms already contain a cascade term ('${existing.name}'); another plugin writes cascades. Use only one of them.`,
    );
  }
  const out: LossTerm[] = [];
  const used = new Set<LossTerm>();
  for (let i = 0; i < K; i++) {
    const skipped = config.shortWindows === 'skip' && i < window - 1;
    const isLast = i === K - 1;
    for (const t of terms) {
      if (t.span[1] !== i) continue;
      used.add(t);
      if (!isIndependentOf(t, i)) {
        out.push(t);
        continue;
      }
      if (skipped || (isLast && config.lastLoss === 'cascade')) continue;
      out.push({ ...t, weight: t.weight * config.wx });
    }
    if (skipped) continue;
    out.push({
      name: cascadeTermName(i),
      span: [Math.max(0, i - window + 1), i] as const,
      role: HeadRoles.cascade,
      weight: isLast && config.lastLoss === 'cascade' ? 1 : config.wy,
    });
  }
  for (const t of terms) if (!used.has(t)) out.push(t);
  return out;
}

/** Every BatchNorm inside a layer tree built from core's containers. */
export function batchNorms(layer: Layer): BatchNorm[] {
  if (layer instanceof BatchNorm) return [layer];
  if (layer instanceof Sequential) return layer.layers.flatMap(batchNorms);
  if (layer instanceof Residual) return [...layer.main, ...(layer.shortcut ?? [])].flatMap(([, l]) => batchNorms(l));
  return [];
}

/**
 * How many times the authors' code forwards each module per step: once on the independent path
 * plus once per cascade window containing it.
 */
export function forwardsPerModule(moduleCount: number, terms: readonly LossTerm[]): number[] {
  const counts = new Array<number>(moduleCount).fill(1);
  for (const t of terms) {
    if (t.role !== HeadRoles.cascade) continue;
    for (let m = t.span[0]; m <= t.span[1]; m++) counts[m]! += 1;
  }
  return counts;
}

/**
 * MLM (Multilaminar Local Modules, METHOD §5) as a `terms` plugin: each module trains with
 * `wx * independent + wy * cascaded`, the cascade back-propagating through a window of
 * `cascadeWindow` modules into a separate head the host creates for role `'cascade'`.
 *
 * The trainer forwards each module once and walks cascade gradients back through the saved
 * activations, so a cascade costs input-gradient passes through its window, not re-forwards. With
 * `runningStatistics: 'per-forward'` its setup sets the backbone's batch-norm momenta and returns
 * the undo the trainer runs when it is disposed.
 */
export const mlm = definePlugin({ call: 'mlm()', error: MlmError, profiles: MLM_PROFILES, rules: mlmRules }, (config) => ({
  name: 'mlm',
  setup(context: SetupContext) {
    if (config.runningStatistics !== 'per-forward') return undefined;
    const K = context.modules.length;
    // Worked out (and checked) before anything changes, so a setup that throws leaves no trace.
    const counts = forwardsPerModule(K, cascadeTerms(K, defaultTerms(K), config));
    const restored: [BatchNorm, number][] = [];
    for (const module of context.modules) {
      for (const block of module.blocks) {
        // The authors' code forwards the stem once and clones its output into the cascade.
        const n = block === context.backbone.stem ? 1 : counts[module.index]!;
        if (n === 1) continue;
        for (const bn of batchNorms(block.layer)) {
          restored.push([bn, bn.momentum]);
          (bn as { momentum: number }).momentum = 1 - Math.pow(1 - bn.momentum, n);
        }
      }
    }
    return () => {
      for (const [bn, momentum] of restored.reverse()) (bn as { momentum: number }).momentum = momentum;
    };
  },
  terms(terms: LossTerm[], context: SetupContext): LossTerm[] {
    return cascadeTerms(context.modules.length, terms, config);
  },
}));

/** What `mlm()` takes: every option of `MlmConfig` (optional) and `profile`. */
export type MlmOptions = PluginOptions<typeof mlm>;

/** The profile's values overridden by the options given, validated (the window against K later). */
export function resolveMlmOptions(options: MlmOptions = {}): MlmConfig {
  return mlm.options.resolve(options);
}
