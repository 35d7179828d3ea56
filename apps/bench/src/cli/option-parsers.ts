import { InvalidArgumentError } from 'commander';
import { MlaanError } from '@mlaan/core';
import type { KValue } from '../configuration/settings.js';

// Text from the command line to values: each names what it expected, which commander prints as
// "option '--x <n>' argument 'y' is invalid. <message>".

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}

export function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n)) throw new InvalidArgumentError('Expected a non-negative integer.');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('Expected a non-negative number.');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a positive number.');
  return n;
}

function splitList(value: string): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new InvalidArgumentError('Expected a comma-separated list with at least one value.');
  return items;
}

/** A comma-separated list of names out of `allowed`, each once. */
export function namesParser<T extends string>(kind: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = splitList(value);
    for (const item of items) {
      if (!allowed.includes(item as T)) throw new InvalidArgumentError(`Unknown ${kind} '${item}'. Use one of: ${allowed.join(', ')}.`);
    }
    return [...new Set(items)] as T[];
  };
}

export function parseKs(value: string): KValue[] {
  return [
    ...new Set(
      splitList(value).map((item) => {
        if (item === 'per-block') return 'per-block' as const;
        if (!/^\d+$/.test(item) || Number(item) < 1) throw new InvalidArgumentError(`K must be a positive integer or 'per-block', got '${item}'.`);
        return Number(item);
      }),
    ),
  ];
}

/** `0,1,2` or a range `0-4`. */
export function parseSeeds(value: string): number[] {
  const seeds: number[] = [];
  for (const item of splitList(value)) {
    const range = /^(\d+)-(\d+)$/.exec(item);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from) throw new InvalidArgumentError(`Seed range '${item}' runs backwards; write it low-high, e.g. 0-4.`);
      for (let seed = from; seed <= to; seed++) seeds.push(seed);
    } else if (/^\d+$/.test(item)) {
      seeds.push(Number(item));
    } else {
      throw new InvalidArgumentError(`Seeds are non-negative integers or ranges like 0-4, got '${item}'.`);
    }
  }
  return [...new Set(seeds)];
}

/** A registry's parser (which throws the bench's own errors) in commander's terms. */
export function commanderParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof MlaanError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}
