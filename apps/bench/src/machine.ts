import { arch, availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { version_core as tfjsVersion } from '@tensorflow/tfjs-core';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGB: number;
  platform: string;
  node: string;
  tfjs: string;
  /** 1, 5 and 15-minute load averages: other work on the machine slows the timings down. */
  loadAverage: number[];
}

export function describeMachine(): MachineInfo {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    tfjs: tfjsVersion,
    loadAverage: loadavg(),
  };
}
