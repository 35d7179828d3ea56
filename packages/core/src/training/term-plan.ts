import { ConfigError } from '../errors.js';
import type { LossTerm } from './plugin.js';

/**
 * Which modules each loss term passes through, and from that, how long each module's forward is
 * needed. Pure data, decided once when the trainer is built; the backward schedules and the
 * activation-memory estimate read it.
 */
export interface TermPlan {
  moduleCount: number;
  /** `endingAt[e]`: the terms whose span ends at module e (their head runs on e's output), in the order given. */
  endingAt: readonly (readonly LossTerm[])[];
  /** `lastUse[m]`: the last module whose terms pass through module m (at least m itself). */
  lastUse: readonly number[];
  /**
   * `parkAt[m]`: the first module from which every remaining term through m starts at m, so m owes
   * them only its weight gradient and its activations may be dropped while their heads run; -1
   * when that never happens before m's last use.
   */
  parkAt: readonly number[];
  /** The last module's widest-span term: its loss is the E2E-comparable training loss. */
  finalTerm: string | undefined;
  /** Whether some term spans several modules (MLM's cascades). */
  spansSeveralModules: boolean;
}

/** One independent term per module: what the trainer starts the `terms` waterfall from. */
export function defaultTerms(moduleCount: number): LossTerm[] {
  return Array.from({ length: moduleCount }, (_, index) => ({
    name: `module${index}.independent`,
    span: [index, index] as const,
    role: 'independent' as const,
    weight: 1,
  }));
}

/** Spans inside the partition, finite non-negative weights, unique names. */
export function validateTerms(terms: readonly LossTerm[], moduleCount: number): void {
  const names = new Set<string>();
  for (const t of terms) {
    const [s, e] = t.span;
    if (!(Number.isInteger(s) && Number.isInteger(e) && s >= 0 && s <= e && e < moduleCount)) {
      throw new ConfigError(`Loss term '${t.name}' has span [${s}, ${e}], outside the ${moduleCount} modules.`);
    }
    if (!(t.weight >= 0) || !Number.isFinite(t.weight)) {
      throw new ConfigError(`Loss term '${t.name}' has weight ${t.weight}; weights must be finite and >= 0.`);
    }
    if (names.has(t.name)) throw new ConfigError(`Two loss terms are named '${t.name}'.`);
    names.add(t.name);
  }
}

/** The plan of validated `terms` over `moduleCount` modules. */
export function planTerms(terms: readonly LossTerm[], moduleCount: number): TermPlan {
  validateTerms(terms, moduleCount);
  const modules = Array.from({ length: moduleCount }, (_, index) => index);
  const endingAt = modules.map((e) => terms.filter((t) => t.span[1] === e));
  const widest = (endingAt[moduleCount - 1] ?? []).reduce<LossTerm | undefined>(
    (best, t) => (!best || t.span[1] - t.span[0] > best.span[1] - best.span[0] ? t : best),
    undefined,
  );
  const through = (m: number) => terms.filter((t) => t.span[0] <= m && m <= t.span[1]);
  const lastUse = modules.map((m) => Math.max(m, ...through(m).map((t) => t.span[1])));
  const parkAt = modules.map((m) => {
    const last = lastUse[m]!;
    for (let e = m + 1; e <= last; e++) {
      if (through(m).filter((t) => t.span[1] >= e).every((t) => t.span[0] === m)) return e;
    }
    return -1;
  });
  return {
    moduleCount,
    endingAt,
    lastUse,
    parkAt,
    finalTerm: widest?.name,
    spansSeveralModules: terms.some((t) => t.span[0] !== t.span[1]),
  };
}

/** The terms that pass through modules `[first, end)` but also through a module outside it. */
export function termsCrossing(terms: readonly LossTerm[], first: number, end: number): LossTerm[] {
  return terms.filter((t) => t.span[0] < end && t.span[1] >= first && (t.span[0] < first || t.span[1] >= end));
}

/**
 * Whether a term through modules `[first, end)` began before `first` (its cotangents leave
 * through module `first`'s input) or continues past `end` (its cotangents come back across the
 * boundary): what a pipeline stage owning the range exchanges.
 */
export function rangeBoundaries(plan: TermPlan, first: number, end: number): { startsBefore: boolean; continuesAfter: boolean } {
  const through = plan.endingAt.flat().filter((t) => t.span[0] < end && t.span[1] >= first);
  return { startsBefore: through.some((t) => t.span[0] < first), continuesAfter: through.some((t) => t.span[1] >= end) };
}

/** A module range a trainer can step on its own: inside the partition, no term leaving it. */
export function checkModuleRange(plan: TermPlan, terms: readonly LossTerm[], first: number, end: number): void {
  checkRangeBounds(plan, first, end);
  const crossing = termsCrossing(terms, first, end);
  if (crossing.length) {
    throw new ConfigError(
      `Loss term '${crossing[0]!.name}' spans modules [${crossing[0]!.span.join(', ')}], beyond the range [${first}, ${end}); ` +
        'a range that is stepped on its own must hold every module its terms pass through.',
    );
  }
}

/** A module range inside the partition: `0 <= first < end <= moduleCount`. */
export function checkRangeBounds(plan: TermPlan, first: number, end: number): void {
  if (!(Number.isInteger(first) && Number.isInteger(end) && 0 <= first && first < end && end <= plan.moduleCount)) {
    throw new ConfigError(`Module range [${first}, ${end}) is outside the ${plan.moduleCount} modules; give 0 <= first < end <= ${plan.moduleCount}.`);
  }
}
