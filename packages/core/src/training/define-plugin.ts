import { ConfigError, MlaanError } from '../errors.js';
import type { LocalLearningPlugin } from './plugin.js';

/**
 * One option's rule: what values it takes (for messages) and its check. `check` returns what is
 * wrong with a value, or undefined when it is fine.
 */
export interface OptionRule<T> {
  /** Default when neither the profile nor the caller gives a value (absent: the option stays undefined). */
  readonly default?: T;
  check(value: unknown): string | undefined;
  /** Only for type inference: the value type this rule takes. */
  readonly __value?: T;
}

/** Rules by option name. */
export type OptionRules = Readonly<Record<string, OptionRule<unknown>>>;

/** The resolved options (the config) that `rules` describe: each option's value type. */
export type ConfigOf<Rules> = { -readonly [K in keyof Rules]: Rules[K] extends OptionRule<infer V> ? V : never };

/** What a caller may pass: every option optional, `profile` when there are profiles. */
export type OptionsOf<Rules, Profile extends string = never> = { [K in keyof Rules]?: Rules[K] extends OptionRule<infer V> ? V : never } & ([
  Profile,
] extends [never]
  ? unknown
  : { profile?: Profile });

const quoted = (values: readonly unknown[]) => values.map((v) => `'${String(v)}'`).join(', ');

/** One of the listed strings (or other literals); the listed values are the option's type. */
function oneOf<const T>(values: readonly T[], defaultValue?: NoInfer<T>): OptionRule<T> {
  return {
    default: defaultValue,
    check: (value) => (values.includes(value as T) ? undefined : `must be one of ${quoted(values)}; got ${JSON.stringify(value)}`),
  };
}

export interface RangeOptions {
  /** Smallest value allowed (inclusive unless `exclusiveMin`). */
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
  /** What the value means, appended to the message: e.g. `modules per cascade`. */
  meaning?: string;
}

function range(kind: 'integer' | 'number', options: RangeOptions, defaultValue?: number): OptionRule<number> {
  const { min, max, exclusiveMin = false, exclusiveMax = false, meaning } = options;
  let wanted: string;
  if (min !== undefined && max !== undefined) wanted = `${kind === 'integer' ? 'an integer ' : ''}in ${exclusiveMin ? '(' : '['}${min}, ${max}${exclusiveMax ? ')' : ']'}`;
  else {
    wanted = kind === 'integer' ? 'an integer' : 'a finite number';
    if (min !== undefined) wanted += ` ${exclusiveMin ? '>' : '>='} ${min}`;
    if (max !== undefined) wanted += ` ${exclusiveMax ? '<' : '<='} ${max}`;
  }
  if (meaning) wanted += ` (${meaning})`;
  return {
    default: defaultValue,
    check(value) {
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (kind === 'number' || Number.isInteger(value)) &&
        (min === undefined || (exclusiveMin ? value > min : value >= min)) &&
        (max === undefined || (exclusiveMax ? value < max : value <= max));
      return ok ? undefined : `must be ${wanted}; got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
    },
  };
}

/** An integer, optionally in a range. */
function integer(options: RangeOptions = {}, defaultValue?: number): OptionRule<number> {
  return range('integer', options, defaultValue);
}

/** A finite number, optionally in a range. */
function finiteNumber(options: RangeOptions = {}, defaultValue?: number): OptionRule<number> {
  return range('number', options, defaultValue);
}

function boolean(defaultValue?: boolean): OptionRule<boolean> {
  return { default: defaultValue, check: (value) => (typeof value === 'boolean' ? undefined : `must be true or false; got ${String(value)}`) };
}

/** Any value `check` accepts (it returns the problem, or undefined); `T` is the option's type. */
function custom<T>(check: (value: unknown) => string | undefined, defaultValue?: T): OptionRule<T> {
  return { default: defaultValue, check };
}

/** `rule`, or undefined (the option may be left out: no default). */
function optional<T>(rule: OptionRule<T>): OptionRule<T | undefined> {
  return { check: (value) => (value === undefined ? undefined : rule.check(value)) };
}

/**
 * The option rules, as one namespace (`option.integer({ min: 1 })`, `option.oneOf(['a', 'b'], 'a')`)
 * so their short names do not crowd the package's exports. The rules are the one place an option
 * is declared: its type (`ConfigOf`, `OptionsOf`), its default and its check all come from here,
 * and a doc comment on the rule's property is the option's documentation.
 */
export const option = { oneOf, integer, finiteNumber, boolean, custom, optional } as const;

export interface OptionsDefinition<Rules extends OptionRules, Profile extends string = never> {
  /** How the caller wrote the call, for messages: `mlm()`. */
  call: string;
  /** The error class thrown for a bad option (a `ConfigError` subclass of the plugin). */
  error?: new (message: string) => MlaanError;
  rules: Rules;
  /** Named sets of defaults, chosen with the `profile` option; the first is the default profile. */
  profiles?: Readonly<Record<Profile, Partial<ConfigOf<Rules>>>>;
}

/** Resolves a plugin's options: defaults, then the profile's values, then the caller's. */
export interface OptionsResolver<Rules extends OptionRules, Profile extends string = never> {
  readonly call: string;
  /** Every option the plugin takes (`profile` included when it has profiles). */
  readonly names: readonly string[];
  readonly profiles: readonly Profile[];
  /** The options merged and checked; unknown options (with the nearest known name), bad values and unknown profiles throw. */
  resolve(options?: OptionsOf<Rules, Profile>): ConfigOf<Rules>;
  /** The entries of `options` this plugin takes (for a bundle that hands options on). */
  pick(options: object): OptionsOf<Rules, Profile>;
}

/** Edit distance between two names, for "did you mean". */
function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(previous[j]! + 1, previous[j - 1]! + 1, diagonal + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The known name nearest to `name` when it is a likely misspelling of it, else undefined. */
export function nearestName(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  if (best === undefined) return undefined;
  return bestDistance <= Math.max(1, Math.floor(best.length / 3)) && bestDistance < Math.min(name.length, best.length) ? best : undefined;
}

/** Throws `ErrorClass` naming every key of `options` not in `names` (with the nearest known name), and listing those. */
export function rejectUnknownOptions(
  call: string,
  options: object,
  names: readonly string[],
  ErrorClass: new (message: string) => MlaanError = ConfigError,
): void {
  const unknown = Object.keys(options).filter((k) => !names.includes(k));
  if (unknown.length === 0) return;
  const hints = unknown.map((k) => nearestName(k, names)).map((near, i) => (near ? ` ('${unknown[i]}': did you mean '${near}'?)` : ''));
  throw new ErrorClass(`${call}: unknown option(s) ${quoted(unknown)}${hints.join('')}. Known options: ${names.join(', ')}.`);
}

export function defineOptions<Rules extends OptionRules, Profile extends string = never>(
  definition: OptionsDefinition<Rules, Profile>,
): OptionsResolver<Rules, Profile> {
  const { call, rules } = definition;
  const ErrorClass = definition.error ?? ConfigError;
  const profiles = (definition.profiles ?? {}) as Readonly<Record<string, Record<string, unknown>>>;
  const profileNames = Object.keys(profiles) as Profile[];
  const ruleNames = Object.keys(rules);
  const names = profileNames.length > 0 ? ['profile', ...ruleNames] : [...ruleNames];
  const given = (options: object) =>
    Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
  return {
    call,
    names,
    profiles: profileNames,
    resolve(options: object = {}) {
      if (options === null || typeof options !== 'object' || Array.isArray(options)) {
        throw new ErrorClass(`${call} takes an options object; got ${Array.isArray(options) ? 'an array' : String(options)}.`);
      }
      rejectUnknownOptions(call, options, names, ErrorClass);
      const values = given(options);
      let profile: Record<string, unknown> = {};
      if (profileNames.length > 0) {
        const name = (values.profile as string | undefined) ?? profileNames[0]!;
        if (!Object.prototype.hasOwnProperty.call(profiles, name)) {
          throw new ErrorClass(`${call}: unknown profile '${name}'. Use one of: ${profileNames.join(', ')}.`);
        }
        profile = profiles[name]!;
      }
      const resolved: Record<string, unknown> = {};
      for (const name of ruleNames) {
        const rule = rules[name]!;
        const value = name in values ? values[name] : name in profile ? profile[name] : rule.default;
        const problem = rule.check(value);
        if (problem !== undefined) throw new ErrorClass(`${call}: ${name} ${problem}.`);
        resolved[name] = value;
      }
      return resolved as ConfigOf<Rules>;
    },
    pick(options: object) {
      const values = given(options);
      return Object.fromEntries(Object.entries(values).filter(([k]) => names.includes(k))) as OptionsOf<Rules, Profile>;
    },
  };
}

/** The hidden link from a plugin object to the factory call that made it, so a trainer can make a fresh one. */
const rebuildKey = Symbol.for('mlaan.plugin.rebuild');

/** A plugin object that can make a fresh copy of itself (same options, no state). */
export function rebuildPlugin(plugin: LocalLearningPlugin): LocalLearningPlugin | undefined {
  const rebuild = (plugin as { [rebuildKey]?: () => LocalLearningPlugin })[rebuildKey];
  return rebuild?.();
}

/** A plugin factory made by `definePlugin`: call it with options; `options` tells what it takes. */
export interface PluginFactory<Rules extends OptionRules, Profile extends string, Plugin extends LocalLearningPlugin> {
  (options?: OptionsOf<Rules, Profile>): Plugin;
  readonly options: OptionsResolver<Rules, Profile>;
}

/** The options a plugin factory takes (`PluginOptions<typeof dgl>`). */
export type PluginOptions<F> = F extends PluginFactory<infer Rules, infer Profile, LocalLearningPlugin> ? OptionsOf<Rules, Profile> : never;

/** The resolved options a plugin factory builds from (`PluginConfig<typeof dgl>`). */
export type PluginConfig<F> = F extends PluginFactory<infer Rules, string, LocalLearningPlugin> ? ConfigOf<Rules> : never;

/**
 * The one way to write a plugin: its options (rules, defaults, profiles) and a function from the
 * resolved options to the plugin object. Every type comes from the rules (no explicit generics).
 * The factory rejects unknown options and bad values with the plugin's error class before anything
 * is built. Each plugin object it makes can be given to more than one trainer: a trainer that gets
 * an object another trainer already used builds a fresh one from the same options (`build` runs
 * again), so plugin state never leaks between trainers.
 */
export function definePlugin<Rules extends OptionRules, Plugin extends LocalLearningPlugin, Profile extends string = never>(
  definition: OptionsDefinition<Rules, Profile>,
  build: (config: ConfigOf<Rules>) => Plugin,
): PluginFactory<Rules, Profile, Plugin> {
  const resolver = defineOptions(definition);
  const make = (config: ConfigOf<Rules>): Plugin => {
    const plugin = build(config);
    Object.defineProperty(plugin, rebuildKey, { value: () => make(config), enumerable: false });
    return plugin;
  };
  const factory = (options?: OptionsOf<Rules, Profile>) => make(resolver.resolve(options ?? {}));
  return Object.assign(factory, { options: resolver });
}
