/**
 * The machine's limits, measured in the run that uses them (machines of one kind differ between
 * sessions, and other processes' load changes what any kernel reaches): the FMA peak of
 * independent 512-bit and 256-bit FMA chains on `threads` threads, and the memory bandwidth of a
 * streaming read and copy, by @mlaan/backend-onednn's native probes. The CPU's flags say which
 * vector widths exist.
 */
import { readFileSync } from 'node:fs';
import { loadAddon, OnednnUnavailableError } from '@mlaan/backend-onednn';

export interface MachineLimits {
  /** When the probes ran (ISO time) and the load average then. */
  at: string;
  loadAverage: number;
  threads: number;
  /** GFLOP/s (an FMA is two operations); 0 where the processor lacks the width. */
  fma512Gflops: number;
  fma256Gflops: number;
  /** The larger of the two: the limit a kernel's GFLOP/s is set against. */
  peakGflops: number;
  readGBs: number;
  copyGBs: number;
}

export function measureMachineLimits(threads: number, loadAverage: number): MachineLimits {
  const addon = loadAddon();
  const fma512Gflops = addon.fmaPeak(512, threads, 1500);
  const fma256Gflops = addon.fmaPeak(256, threads, 1500);
  const { read, copy } = addon.memoryBandwidth(threads, 256, 1000);
  const round1 = (x: number) => Math.round(x * 10) / 10;
  return {
    at: new Date().toISOString(),
    loadAverage,
    threads,
    fma512Gflops: round1(fma512Gflops),
    fma256Gflops: round1(fma256Gflops),
    peakGflops: round1(Math.max(fma512Gflops, fma256Gflops)),
    readGBs: round1(read),
    copyGBs: round1(copy),
  };
}

/**
 * The limits where this machine can measure them; undefined where @mlaan/backend-onednn's addon,
 * whose probes measure them, does not load (the offline GPU bundle carries none: its rows run on
 * the GPU, which the CPU's limit says nothing about).
 */
export function measureMachineLimitsIfPossible(threads: number, loadAverage: number): MachineLimits | undefined {
  try {
    loadAddon();
  } catch (error) {
    if (error instanceof OnednnUnavailableError) return undefined;
    throw error;
  }
  return measureMachineLimits(threads, loadAverage);
}

/** The CPU's vector and FMA flags (Linux), for the results file. */
export function cpuVectorFlags(): string[] {
  try {
    const flags = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
    return flags.filter((flag) => /^(avx|fma|sse4|f16c)/.test(flag));
  } catch {
    return [];
  }
}
