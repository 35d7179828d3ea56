import { BenchOptionError } from '../errors.js';

/**
 * One option a framework's host takes, declared in its registry entry (`frameworks.ts`): the CLI
 * spells it `--<framework>-<option in kebab case>` (`--dgl-head`), its default and check live
 * here, and configurations record it under the framework's name (`frameworkOptions.dgl.head`).
 * Commander-free: the CLI turns a thrown `BenchOptionError` into its own "argument is invalid".
 */
export interface HostOptionDefinition<T> {
  /** The CLI help line (the default is appended). */
  description: string;
  /** `<name>` in `--dgl-head <name>`. */
  valueName: string;
  /** The allowed values of a choice, shown by the CLI. */
  choices?: readonly string[];
  /** undefined: not set unless given (the host's plugin then picks its own). */
  default: T;
  /** Text from the command line to a value; throws `BenchOptionError` with the fix. */
  parse(text: string): T;
  /** Why a value (from a preset or an option) is not allowed; undefined when it is. */
  problem(value: unknown): string | undefined;
  /** The row label's mark for a value other than the default (`[linear head]`); none when absent. */
  label?(value: T): string;
  /** How the hyperparameters table and the section titles name a value (`DGL head linear`). */
  describe(value: T): string;
  /** Named in a section's title (InfoPro's task changes what its rows mean). */
  inSectionTitle?: boolean;
  /**
   * The field this option had in a configuration before options were kept under the framework's
   * name (result format 2), and its value there for the other frameworks' configurations (absent:
   * none). Configuration ids hash that spelling, so that results trained then keep their ids and
   * a rerun skips them. A new host leaves it out.
   */
  formerField?: { name: string; inOtherFrameworks?: null };
}

export type AnyHostOption = HostOptionDefinition<unknown>;

/** The value type an option definition holds. */
export type HostOptionValue<O> = O extends HostOptionDefinition<infer T> ? T : never;

/** The values of a set of option definitions, by option name. */
export type HostOptionValues<O> = { [K in keyof O]: HostOptionValue<O[K]> };

interface Common {
  description: string;
  /** Row-label mark for a non-default value. */
  label?: (value: string) => string;
  /** The words before the value in tables and titles: `DGL head`. */
  title: string;
  inSectionTitle?: boolean;
  formerField?: { name: string; inOtherFrameworks?: null };
}

/** Declares a host option whose value is one of `choices`. */
function choice<const C extends readonly string[]>(spec: Common & { choices: C; default: C[number]; valueName?: string }): HostOptionDefinition<C[number]> {
  const problem = (value: unknown) =>
    spec.choices.includes(value as string) ? undefined : `Unknown ${spec.title} '${String(value)}'. Use one of: ${spec.choices.map((c) => `'${c}'`).join(', ')}.`;
  return {
    description: spec.description,
    valueName: spec.valueName ?? 'name',
    choices: spec.choices,
    default: spec.default,
    parse(text) {
      const message = problem(text);
      if (message) throw new BenchOptionError(message);
      return text as C[number];
    },
    problem,
    ...(spec.label ? { label: spec.label as (value: C[number]) => string } : {}),
    describe: (value) => `${spec.title} ${value}`,
    ...(spec.inSectionTitle ? { inSectionTitle: true } : {}),
    ...(spec.formerField ? { formerField: spec.formerField } : {}),
  };
}

/** Declares a host option of a fixed number of named non-negative weights, not set unless given. */
function weights(spec: Omit<Common, 'label'> & { names: readonly string[]; example: string; meaning: string }): HostOptionDefinition<number[] | undefined> {
  const names = spec.names.join(',');
  const problem = (value: unknown) =>
    value === undefined ||
    (Array.isArray(value) && value.length === spec.names.length && value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0))
      ? undefined
      : `${spec.title} takes ${spec.names.length} numbers >= 0 (${names}), got ${Array.isArray(value) ? value.join(',') : String(value)}.`;
  return {
    description: spec.description,
    valueName: 'weights',
    default: undefined,
    parse(text) {
      const items = text.split(',').map((item) => item.trim());
      if (items.length !== spec.names.length) {
        throw new BenchOptionError(`Expected ${spec.names.length === 4 ? 'four' : spec.names.length} comma-separated numbers ${names} (${spec.meaning}), e.g. ${spec.example}.`);
      }
      return items.map((item, index) => {
        const n = Number(item);
        if (item === '' || !Number.isFinite(n) || n < 0) {
          throw new BenchOptionError(`${spec.names[index]} is '${item}'; each weight must be a number >= 0 (0 switches that loss off).`);
        }
        return n;
      });
    },
    problem,
    describe: (value) => `${spec.title} ${value === undefined ? 'default' : value.join(',')}`,
    ...(spec.inSectionTitle ? { inSectionTitle: true } : {}),
    ...(spec.formerField ? { formerField: spec.formerField } : {}),
  };
}

export const hostOption = { choice, weights };

/** `auxHead` → `aux-head`: the option's part of its CLI flag. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** `--dgl-head`: the CLI flag of a framework's option. */
export function hostOptionFlag(framework: string, option: string): string {
  return `--${framework}-${kebabCase(option)}`;
}
