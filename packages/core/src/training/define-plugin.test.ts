import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError, MlaanError } from '../errors.js';
import {
  type ConfigOf,
  definePlugin,
  defineOptions,
  nearestName,
  option,
  type PluginConfig,
  type PluginOptions,
  rebuildPlugin,
  rejectUnknownOptions,
} from './define-plugin.js';

class ExampleError extends ConfigError {}

const definition = {
  call: 'example()',
  error: ExampleError,
  profiles: { paper: { window: 3, rule: 'a' as const }, reference: { window: 2, rule: 'b' as const } },
  rules: {
    /** Modules per window. */
    window: option.integer({ min: 1, meaning: 'modules' }),
    weight: option.finiteNumber({ min: 0, exclusiveMin: true, max: 1 }, 0.5),
    rule: option.oneOf(['a', 'b']),
    clip: option.boolean(false),
    seed: option.optional(option.integer()),
  },
};

describe('defineOptions', () => {
  const options = defineOptions(definition);

  it('types come from the rules: the config, and what a caller may pass', () => {
    expectTypeOf<ConfigOf<typeof definition.rules>>().toEqualTypeOf<{
      window: number;
      weight: number;
      rule: 'a' | 'b';
      clip: boolean;
      seed: number | undefined;
    }>();
    expectTypeOf(options.resolve).parameter(0).toEqualTypeOf<
      | ({ window?: number; weight?: number; rule?: 'a' | 'b'; clip?: boolean; seed?: number | undefined } & { profile?: 'paper' | 'reference' })
      | undefined
    >();
  });

  it('merges rule defaults, then the profile (the first by default), then the options given', () => {
    expect(options.resolve()).toEqual({ window: 3, weight: 0.5, rule: 'a', clip: false, seed: undefined });
    expect(options.resolve({ profile: 'reference' })).toEqual({ window: 2, weight: 0.5, rule: 'b', clip: false, seed: undefined });
    // undefined means "not given": the profile's value stays.
    expect(options.resolve({ profile: 'reference', window: undefined, rule: 'a', seed: 4 })).toEqual({ window: 2, weight: 0.5, rule: 'a', clip: false, seed: 4 });
    expect(options.names).toEqual(['profile', 'window', 'weight', 'rule', 'clip', 'seed']);
    expect(options.profiles).toEqual(['paper', 'reference']);
  });

  it('rejects unknown options (with the nearest known name), unknown profiles and values outside their rule, with the plugin error class', () => {
    const resolve = (given: object) => options.resolve(given as never);
    expect(() => resolve({ windw: 2 })).toThrow(ExampleError);
    expect(() => resolve({ windw: 2, x: 1 })).toThrow(
      "example(): unknown option(s) 'windw', 'x' ('windw': did you mean 'window'?). Known options: profile, window, weight, rule, clip, seed.",
    );
    expect(() => resolve({ profile: 'fast' })).toThrow("example(): unknown profile 'fast'. Use one of: paper, reference.");
    expect(() => resolve({ window: 0 })).toThrow('example(): window must be an integer >= 1 (modules); got 0.');
    expect(() => resolve({ window: 1.5 })).toThrow(/window must be an integer >= 1/);
    expect(() => resolve({ weight: 0 })).toThrow('example(): weight must be in (0, 1]; got 0.');
    expect(() => resolve({ weight: Number.NaN })).toThrow(/weight must be in \(0, 1\]; got NaN/);
    expect(() => resolve({ weight: '0.5' })).toThrow(/weight must be in \(0, 1\]; got "0.5"/);
    expect(() => resolve({ rule: 'c' })).toThrow(`example(): rule must be one of 'a', 'b'; got "c".`);
    expect(() => resolve({ clip: 1 })).toThrow('example(): clip must be true or false; got 1.');
    expect(() => resolve({ seed: 0.5 })).toThrow(/seed must be an integer; got 0.5/);
    expect(() => options.resolve(null as never)).toThrow(/takes an options object/);
    expect(() => options.resolve([] as never)).toThrow(/takes an options object; got an array/);
    expect(() => resolve({ windw: 2 })).toThrow(MlaanError);
  });

  it('picks the options it takes out of a bundle', () => {
    expect(options.pick({ window: 2, other: 1, seed: undefined, profile: 'paper' })).toEqual({ window: 2, profile: 'paper' });
  });

  it('rejectUnknownOptions lists every unknown key and defaults to ConfigError', () => {
    expect(() => rejectUnknownOptions('bundle()', { a: 1, b: 2 }, ['a'])).toThrow(ConfigError);
    expect(() => rejectUnknownOptions('bundle()', { a: 1, b: 2 }, ['a'])).toThrow("bundle(): unknown option(s) 'b'. Known options: a.");
    expect(() => rejectUnknownOptions('bundle()', { a: 1 }, ['a'])).not.toThrow();
  });

  it('nearestName suggests only close names', () => {
    expect(nearestName('optimiser', ['optimizer', 'mode'])).toBe('optimizer');
    expect(nearestName('clases', ['classes', 'seed'])).toBe('classes');
    expect(nearestName('dataDri', ['dataDir', 'download'])).toBe('dataDir');
    expect(nearestName('banana', ['optimizer', 'mode'])).toBeUndefined();
  });
});

describe('definePlugin', () => {
  const built: unknown[] = [];
  const example = definePlugin(definition, (config) => {
    built.push(config);
    let calls = 0;
    return { name: 'example', config, count: () => ++calls };
  });

  it('checks options before building, infers every type from the rules, and exposes how it resolves them', () => {
    expectTypeOf<PluginConfig<typeof example>>().toEqualTypeOf<ConfigOf<typeof definition.rules>>();
    expectTypeOf<PluginOptions<typeof example>>().toHaveProperty('profile');
    expect(example({ window: 5 }).name).toBe('example');
    expect(built).toEqual([{ window: 5, weight: 0.5, rule: 'a', clip: false, seed: undefined }]);
    expect(() => example({ window: -1 })).toThrow(ExampleError);
    expect(built).toHaveLength(1);
    expect(example.options.names).toContain('clip');
  });

  it('a plugin object can make a fresh copy of itself: same options, no state', () => {
    const first = example({ window: 4 });
    first.count();
    first.count();
    const fresh = rebuildPlugin(first) as typeof first;
    expect(fresh).not.toBe(first);
    expect(fresh.config).toEqual(first.config);
    expect(fresh.count()).toBe(1);
    expect(rebuildPlugin({ name: 'plain' })).toBeUndefined();
  });
});
