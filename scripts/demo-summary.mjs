// After the main job trains: its configurations side by side, what MLAAN changed in this run, and
// how sure that is from the seed runs committed when the demo's protocol was chosen.
// Usage: node scripts/demo-summary.mjs <the demo's output folder> <the folder of the committed seed runs>
import { resolve } from 'node:path';
import { latestSectionRuns, mainJobSummary, PRESETS, readAllResults } from '@mlaan/bench';

const [outDir, referenceDir] = process.argv.slice(2);
if (!outDir || !referenceDir) {
  console.error('usage: node scripts/demo-summary.mjs <demo output folder> <committed seed runs folder>');
  process.exit(2);
}
const mini = PRESETS.mini.settings();
const fresh = latestSectionRuns(await readAllResults(resolve(outDir)));
const reference = await readAllResults(resolve(referenceDir));
console.log(
  [
    '',
    '## What MLAAN changed',
    '',
    ...mainJobSummary(fresh, reference, `${referenceDir}/, README.md there`),
    '',
    `The full table, E2E and every host with and without MLM, LAM and MLAAN on the mini protocol (${mini.epochs} epochs on ${mini.trainLimit.toLocaleString('en-US')} training images, seeds ${mini.seeds.join(', ')}):`,
    'benchmarks/mini/results.md, with what it shows in benchmarks/mini/README.md.',
  ].join('\n'),
);
