import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The README's first command on a fresh clone: `npm run setup` installs oneDNN and runs `npm ci`
 * (whose install script builds the native addon when oneDNN is present), and `npm run demo` builds
 * every package the bench imports, the native backend's dist/ included, before it trains.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const readJson = (path: string) => JSON.parse(readFileSync(join(repoRoot, path), 'utf8'));

describe("the README's main job", () => {
  // That the README names these two scripts is checked by CI (scripts/check-docs.mjs), not here.
  it('setup installs oneDNN before npm ci builds the addon, and demo is the demo script', () => {
    const { scripts } = readJson('package.json');
    expect(scripts.setup).toBe('scripts/install-system-packages.sh && npm ci --no-audit --no-fund');
    const install = readFileSync(join(repoRoot, 'scripts/install-system-packages.sh'), 'utf8');
    // It installs oneDNN's build dependencies with apt-get (through its one install helper).
    expect(install).toMatch(/apt-get install -y -qq --no-install-recommends/);
    expect(install).toMatch(/apt_install libdnnl-dev g\+\+ make/);
    // npm ci runs each workspace's install script: the backend's builds the addon where oneDNN is.
    expect(readJson('packages/backend-onednn/package.json').scripts.install).toBe('node scripts/build-addon.mjs');
    expect(scripts.demo).toBe('scripts/demo.sh');
  });

  it("builds @mlaan/backend-onednn's dist with the bench, so that auto can take the native backend", () => {
    const demo = readFileSync(join(repoRoot, 'scripts/demo.sh'), 'utf8');
    expect(demo).toContain('npx turbo run build --filter=@mlaan/bench...');
    expect(demo).toContain('--backend auto');
    const plan = JSON.parse(
      execFileSync('npx', ['turbo', 'run', 'build', '--filter=@mlaan/bench...', '--dry=json'], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
      }),
    ) as { tasks: { taskId: string }[] };
    expect(plan.tasks.map((task) => task.taskId)).toContain('@mlaan/backend-onednn#build');
  });

  it.skipIf(!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp'))('with libdnnl-dev present, the addon the install script builds is there', () => {
    expect(existsSync(join(repoRoot, 'packages/backend-onednn/build/Release/onednn.node'))).toBe(true);
  });
});
