import { FRAMEWORKS } from '../registry/frameworks.js';
import { PLUGIN_SETS } from '../registry/plugin-sets.js';
import { PRESETS } from '../registry/presets.js';

/** What `--help` adds after the options: the registry's frameworks, plugin sets and presets, backends, resuming, exit codes. */
export function registryHelp(): string {
  const lines = ['', '', 'Frameworks:'];
  for (const f of Object.values(FRAMEWORKS)) lines.push(`  ${f.name.padEnd(9)} ${f.description}`);
  lines.push('', 'Plugin sets:');
  for (const p of Object.values(PLUGIN_SETS)) lines.push(`  ${p.name.padEnd(9)} ${p.description}`);
  lines.push('', 'Presets:');
  for (const p of Object.values(PRESETS)) lines.push(`  ${p.name.padEnd(9)} ${p.description}`);
  lines.push(
    '',
    'Backends: auto tries tensorflow-gpu (@tensorflow/tfjs-node-gpu), webgpu (@mlaan/backend-webgpu on a hardware GPU),',
    'tensorflow (@tensorflow/tfjs-node), onednn (@mlaan/backend-onednn), wasm, cpu, and takes the first that loads.',
    'Naming one that is not installed is an error that says which package to install; --backend webgpu also runs on',
    "a software GPU (Mesa's lavapipe), which auto never takes.",
    '',
    'Interrupt with Ctrl-C: the current step finishes and a checkpoint is saved. Rerunning the same command skips',
    'finished configurations (out/runs/<id>/result.json) and continues the interrupted one from its checkpoint.',
    'Exit codes: 0 done, 1 a configuration failed, 2 bad options, 130 interrupted.',
  );
  return lines.join('\n');
}
