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
}

/** The rules of every option of a resolved options type `R`. */
export type OptionRules<R> = { readonly [K in keyof R]-?: OptionRule<R[K]> };

const quoted = (values: readonly unknown[]) => values.map((v) => `'${String(v)}'`).join(', ');

/** One of the listed strings (or other literals). */
function oneOf<T>(values: readonly T[], defaultValue?: T): OptionRule<T> {
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

/** Any value `check` accepts (it returns the problem, or undefined). */
function custom<T>(check: (value: unknown) => string | undefined, defaultValue?: T): OptionRule<T> {
  return { default: defaultValue, check };
}

/** `rule`, or undefined (the option may be left out: no default). */
function optional<T>(rule: OptionRule<T>): OptionRule<T | undefined> {
  return { check: (value) => (value === undefined ? undefined : rule.check(value)) };
}

/**
 * The option rules, as one namespace (`option.integer({ min: 1 })`, `option.oneOf(['a', 'b'], 'a')`)
 * so their short names do not crowd the package's exports.
 */
export const option = { oneOf, integer, finiteNumber, boolean, custom, optional } as const;

export interface OptionsDefinition<R, P extends string> {
  /** How the caller wrote the call, for messages: `mlm()`. */
  call: string;
  /** The error class thrown for a bad option (a `ConfigError` subclass of the plugin). */
  error?: new (message: string) => MlaanError;
  rules: OptionRules<R>;
  /** Named sets of defaults, chosen with the `profile` option; the first is the default profile. */
  profiles?: Readonly<Record<P, Partial<R>>>;
}

/** Resolves a plugin's options: defaults, then the profile's values, then the caller's. */
export interface OptionsResolver<R, P extends string = never> {
  readonly call: string;
  /** Every option the plugin takes (`profile` included when it has profiles). */
  readonly names: readonly string[];
  readonly profiles: readonly P[];
  /** The options merged and checked; unknown options, bad values and unknown profiles throw. */
  resolve(options?: object): R;
  /** The entries of `options` this plugin takes (for a bundle that hands options on). */
  pick(options: object): Partial<R>;
}

/** Throws `ErrorClass` naming every key of `options` not in `names`, and listing those. */
export function rejectUnknownOptions(
  call: string,
  options: object,
  names: readonly string[],
  ErrorClass: new (message: string) => MlaanError = ConfigError,
): void {
  const unknown = Object.keys(options).filter((k) => !names.includes(k));
  if (unknown.length > 0) throw new ErrorClass(`${call}: unknown option(s) ${quoted(unknown)}. Known options: ${names.join(', ')}.`);
}

export function defineOptions<R, P extends string = never>(definition: OptionsDefinition<R, P>): OptionsResolver<R, P> {
  const { call, rules } = definition;
  const ErrorClass = definition.error ?? ConfigError;
  const profiles = (definition.profiles ?? {}) as Readonly<Record<string, Partial<R>>>;
  const profileNames = Object.keys(profiles) as P[];
  const ruleNames = Object.keys(rules) as (keyof R & string)[];
  const names = profileNames.length > 0 ? ['profile', ...ruleNames] : [...ruleNames];
  const given = (options: object) =>
    Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
  return {
    call,
    names,
    profiles: profileNames,
    resolve(options: object = {}): R {
      if (options === null || typeof options !== 'object') throw new ErrorClass(`${call} takes an options object; got ${String(options)}.`);
      rejectUnknownOptions(call, options, names, ErrorClass);
      const values = given(options);
      let profile: Partial<R> = {};
      if (profileNames.length > 0) {
        const name = (values.profile as string | undefined) ?? profileNames[0]!;
        if (!Object.prototype.hasOwnProperty.call(profiles, name)) {
          throw new ErrorClass(`${call}: unknown profile '${name}'. Use one of: ${profileNames.join(', ')}.`);
        }
        profile = profiles[name]!;
      }
      const resolved: Record<string, unknown> = {};
      for (const name of ruleNames) {
        const rule = rules[name] as OptionRule<unknown>;
        const value = name in values ? values[name] : name in profile ? (profile as Record<string, unknown>)[name] : rule.default;
        const problem = rule.check(value);
        if (problem !== undefined) throw new ErrorClass(`${call}: ${name} ${problem}.`);
        resolved[name] = value;
      }
      return resolved as R;
    },
    pick(options: object): Partial<R> {
      const values = given(options);
      return Object.fromEntries(Object.entries(values).filter(([k]) => names.includes(k))) as Partial<R>;
    },
  };
}

/** A plugin factory made by `definePlugin`: call it with options; `options` tells what it takes. */
export interface PluginFactory<O, R, P extends string, T extends LocalLearningPlugin> {
  (options?: O): T;
  readonly options: OptionsResolver<R, P>;
}

/**
 * The one way to write a plugin: its options (rules, defaults, profiles) and a function from the
 * resolved options to the plugin object. The factory rejects unknown options and bad values with
 * the plugin's error class before anything is built.
 */
export function definePlugin<O extends object, R, T extends LocalLearningPlugin, P extends string = never>(
  definition: OptionsDefinition<R, P>,
  build: (options: R) => T,
): PluginFactory<O, R, P, T> {
  const resolver = defineOptions(definition);
  const factory = (options?: O) => build(resolver.resolve(options ?? {}));
  return Object.assign(factory, { options: resolver });
}
