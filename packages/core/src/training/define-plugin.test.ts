import { describe, expect, it } from 'vitest';
import { ConfigError, MlaanError } from '../errors.js';
import { definePlugin, defineOptions, option, rejectUnknownOptions } from './define-plugin.js';

class ExampleError extends ConfigError {}

interface ExampleConfig {
  window: number;
  weight: number;
  rule: 'a' | 'b';
  clip: boolean;
  seed?: number;
}

const definition = {
  call: 'example()',
  error: ExampleError,
  profiles: { paper: { window: 3, rule: 'a' as const }, reference: { window: 2, rule: 'b' as const } },
  rules: {
    window: option.integer({ min: 1, meaning: 'modules' }),
    weight: option.finiteNumber({ min: 0, exclusiveMin: true, max: 1 }, 0.5),
    rule: option.oneOf<'a' | 'b'>(['a', 'b']),
    clip: option.boolean(false),
    seed: option.optional(option.integer()),
  },
};

describe('defineOptions', () => {
  const options = defineOptions<ExampleConfig, 'paper' | 'reference'>(definition);

  it('merges rule defaults, then the profile (the first by default), then the options given', () => {
    expect(options.resolve()).toEqual({ window: 3, weight: 0.5, rule: 'a', clip: false, seed: undefined });
    expect(options.resolve({ profile: 'reference' })).toEqual({ window: 2, weight: 0.5, rule: 'b', clip: false, seed: undefined });
    // undefined means "not given": the profile's value stays.
    expect(options.resolve({ profile: 'reference', window: undefined, rule: 'a', seed: 4 })).toEqual({ window: 2, weight: 0.5, rule: 'a', clip: false, seed: 4 });
    expect(options.names).toEqual(['profile', 'window', 'weight', 'rule', 'clip', 'seed']);
    expect(options.profiles).toEqual(['paper', 'reference']);
  });

  it('rejects unknown options, unknown profiles and values outside their rule, with the plugin error class', () => {
    expect(() => options.resolve({ windw: 2 })).toThrow(ExampleError);
    expect(() => options.resolve({ windw: 2, x: 1 })).toThrow("example(): unknown option(s) 'windw', 'x'. Known options: profile, window, weight, rule, clip, seed.");
    expect(() => options.resolve({ profile: 'fast' })).toThrow("example(): unknown profile 'fast'. Use one of: paper, reference.");
    expect(() => options.resolve({ window: 0 })).toThrow('example(): window must be an integer >= 1 (modules); got 0.');
    expect(() => options.resolve({ window: 1.5 })).toThrow(/window must be an integer >= 1/);
    expect(() => options.resolve({ weight: 0 })).toThrow('example(): weight must be in (0, 1]; got 0.');
    expect(() => options.resolve({ weight: Number.NaN })).toThrow(/weight must be in \(0, 1\]; got NaN/);
    expect(() => options.resolve({ weight: '0.5' })).toThrow(/weight must be in \(0, 1\]; got "0.5"/);
    expect(() => options.resolve({ rule: 'c' })).toThrow(`example(): rule must be one of 'a', 'b'; got "c".`);
    expect(() => options.resolve({ clip: 1 })).toThrow('example(): clip must be true or false; got 1.');
    expect(() => options.resolve({ seed: 0.5 })).toThrow(/seed must be an integer; got 0.5/);
    expect(() => options.resolve(null as never)).toThrow(/takes an options object/);
    expect(() => options.resolve({ windw: 2 })).toThrow(MlaanError);
  });

  it('picks the options it takes out of a bundle', () => {
    expect(options.pick({ window: 2, other: 1, seed: undefined, profile: 'paper' })).toEqual({ window: 2, profile: 'paper' });
  });

  it('rejectUnknownOptions lists every unknown key and defaults to ConfigError', () => {
    expect(() => rejectUnknownOptions('bundle()', { a: 1, b: 2 }, ['a'])).toThrow(ConfigError);
    expect(() => rejectUnknownOptions('bundle()', { a: 1, b: 2 }, ['a'])).toThrow("bundle(): unknown option(s) 'b'. Known options: a.");
    expect(() => rejectUnknownOptions('bundle()', { a: 1 }, ['a'])).not.toThrow();
  });
});

describe('definePlugin', () => {
  it('checks options before building and exposes how it resolves them', () => {
    const built: ExampleConfig[] = [];
    const example = definePlugin<Partial<ExampleConfig> & { profile?: 'paper' | 'reference' }, ExampleConfig, { name: string }, 'paper' | 'reference'>(
      definition,
      (config) => {
        built.push(config);
        return { name: 'example' };
      },
    );
    expect(example({ window: 5 }).name).toBe('example');
    expect(built).toEqual([{ window: 5, weight: 0.5, rule: 'a', clip: false, seed: undefined }]);
    expect(() => example({ window: -1 })).toThrow(ExampleError);
    expect(built).toHaveLength(1);
    expect(example.options.names).toContain('clip');
  });
});
