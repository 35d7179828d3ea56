/**
 * Module-parallel training across machines, on paper (issue 28, item 5): what would cross the
 * network between pipeline stages on different GPU nodes, per training step, and the bandwidth
 * each configuration needs. Reads the measurements of benchmarks/module-parallel.ts
 * (benchmarks/results/module-parallel.json: each module's output bytes per image, each stage's
 * measured bytes sent per step, the per-module compute times and the projected placement on W
 * devices) and adds what that benchmark does not meter, counted from the same models: the
 * cotangents MLM's cascades send back across a boundary (one per cascade term crossing it, each
 * the size of the boundary's activation) and the weights LAM's EMA twins need from later stages
 * (every variable of every module after the boundary, after every step).
 *
 *   npx tsx benchmarks/module-parallel-network.ts [--in benchmarks/results/module-parallel.json]
 *
 * Writes benchmarks/results/module-parallel-network.json and prints the table of
 * docs/module-parallel-across-machines.md. Nothing is timed here: the speeds are the measured ones.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalTrainer, selectBackend } from '@mlaan/core';
import { describeMachine, writeResults } from './lib/results.js';
import resnet32Recipe, { type Method } from './lib/resnet32-recipe.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    in: { type: 'string', default: join(here, 'results', 'module-parallel.json') },
    out: { type: 'string', default: join(here, 'results', 'module-parallel-network.json') },
  },
});

interface Stage {
  modules: [number, number];
  computeMs: number;
  transferMs: number;
  sentBytes: number;
}
interface MeasuredRow {
  method: Method;
  K: number;
  imagesPerSecond: Record<string, number[]>;
  projection?: { outputBytesPerImage: number[]; byWorkers: { W: number; imagesPerSecond: number; stages: Stage[] }[] };
}
const measured = JSON.parse(await readFile(values.in!, 'utf8')) as { command: string; batch: number; machine: unknown; rows: MeasuredRow[] };
const batch = measured.batch;

await selectBackend('cpu', { log: () => {} });

/** One stage boundary: what crosses it per training step, each way. */
interface Boundary {
  /** The first module after the boundary. */
  at: number;
  /** Measured: the activation, the images and the labels sent on (benchmarks/module-parallel.ts's bytesSent). */
  forwardBytes: number;
  /** Cascade cotangents sent back (exact exchange; the delayed one sends as many, a step late). */
  cotangentBytes: number;
  cascadesCrossing: number;
  /** Variables of every later module sent back for LAM's EMA twins (exact weight exchange). */
  weightBytes: number;
}

const rows = [];
for (const row of measured.rows) {
  if (!row.projection) continue;
  const trainer = new LocalTrainer(resnet32Recipe({ method: row.method, K: row.K }));
  const moduleBytes = trainer.modules.map((m) => [...m.namedParameters(), ...m.namedBuffers()].reduce((sum, [, v]) => sum + v.size * 4, 0));
  // LAM's twins read later modules' weights: a plugin with state updates after the backward.
  const twins = trainer.plugins.some((plugin) => typeof plugin.afterBackward === 'function');
  const terms = trainer.terms.map((term) => term.span);
  trainer.dispose();
  const placements = row.projection.byWorkers
    .filter(({ W }) => W >= 2)
    .map(({ W, imagesPerSecond, stages }) => {
      const boundaries: Boundary[] = stages.slice(0, -1).map((stage) => {
        const at = stage.modules[1];
        const crossing = terms.filter(([start, end]) => start <= at - 1 && end >= at).length;
        return {
          at,
          forwardBytes: stage.sentBytes,
          cotangentBytes: crossing * row.projection!.outputBytesPerImage[at - 1]! * batch,
          cascadesCrossing: crossing,
          weightBytes: twins ? moduleBytes.slice(at).reduce((a, b) => a + b, 0) : 0,
        };
      });
      const periodMs = Math.max(...stages.map((s) => s.computeMs + s.transferMs));
      const busiest = boundaries.reduce((a, b) => (b.forwardBytes + b.cotangentBytes + b.weightBytes > a.forwardBytes + a.cotangentBytes + a.weightBytes ? b : a));
      const stepBytes = busiest.forwardBytes + busiest.cotangentBytes + busiest.weightBytes;
      return {
        W,
        projectedImagesPerSecond: imagesPerSecond,
        boundaries,
        busiestBoundary: busiest.at,
        bytesPerStep: stepBytes,
        bytesPerImage: stepBytes / batch,
        /** What the busiest link carries (both ways together) at the projected speed of the measured CPU stages. */
        megabytesPerSecondAtProjected: stepBytes / periodMs / 1000,
        /** Per 1,000 training images/s, whatever the devices: bytes per image × 1000, in Gbit/s. */
        gigabitsPerSecondPer1000ImagesPerSecond: (stepBytes / batch) * 1000 * 8 / 1e9,
      };
    });
  rows.push({ method: row.method, K: row.K, moduleBytes, outputBytesPerImage: row.projection.outputBytesPerImage, placements });
}

writeResults(values.out!, {
  command: `npx tsx benchmarks/module-parallel-network.ts --in ${values.in}`,
  source: { file: 'benchmarks/results/module-parallel.json', command: measured.command, batch },
  machine: describeMachine(),
  rows,
});

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
console.log(`batch ${batch}; sizes per training step at the busiest boundary (forward measured, cotangents and weights counted)`);
console.log('| method | K | W | boundary before module | forward MB | cotangents MB | weights MB | bytes/image | Gbit/s per 1,000 img/s | MB/s at the projected CPU speed |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const row of rows) {
  for (const p of row.placements.filter(({ W }) => W === 2 || W === 4 || W === row.K)) {
    const b = p.boundaries.find((x) => x.at === p.busiestBoundary)!;
    console.log(
      `| ${row.method} | ${row.K} | ${p.W} | ${b.at} | ${mb(b.forwardBytes)} | ${mb(b.cotangentBytes)}${b.cascadesCrossing ? ` (${b.cascadesCrossing} cascades)` : ''} | ${mb(b.weightBytes)} | ${Math.round(p.bytesPerImage)} | ${p.gigabitsPerSecondPer1000ImagesPerSecond.toFixed(2)} | ${p.megabytesPerSecondAtProjected.toFixed(1)} at ${Math.round(p.projectedImagesPerSecond)} img/s |`,
    );
  }
}
