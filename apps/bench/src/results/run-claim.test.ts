import { spawnSync } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeScratchFolders, scratchFolder } from '../testing.js';
import { CLAIM_FOLDER, type ClaimOwner, claimRun, currentProcessIdentity, judgeClaim, type ProcessIdentity, readClaimOwner } from './run-claim.js';

afterAll(removeScratchFolders);

const timing = { heartbeatSeconds: 30, staleSeconds: 600 };
const self: ProcessIdentity = { host: 'node-a', machine: 'boot-a/pid:[1]', pid: 100, processStart: '5', schedulerTask: 'slurm:c:77:batch:0' };
const now = new Date('2026-12-05T12:00:00Z');
const holder = (fields: Partial<ClaimOwner>): ClaimOwner => ({
  host: 'node-b',
  machine: 'boot-b/pid:[1]',
  pid: 200,
  processStart: '9',
  schedulerTask: null,
  command: 'mlaan-bench ablation',
  claimedAt: '2026-12-05T11:00:00Z',
  heartbeatAt: '2026-12-05T11:59:50Z',
  token: 't',
  ...fields,
});

describe('judgeClaim: whether a claim holder may still be training', () => {
  const alive = () => true;
  const dead = () => false;
  it('on this machine: exactly when its process runs', () => {
    const here = holder({ machine: self.machine, host: 'node-a', heartbeatAt: '2026-12-05T10:00:00Z' });
    expect(judgeClaim(here, 1, self, now, timing, alive)).toMatchObject({ holder: 'alive' });
    expect(judgeClaim(here, 1, self, now, timing, dead)).toEqual({ holder: 'gone', reason: 'process 200 on this machine (node-a) has ended' });
    // Sharing a Slurm job (GNU parallel inside one allocation) does not make a live process on this machine gone.
    expect(judgeClaim({ ...here, schedulerTask: self.schedulerTask }, 1, self, now, timing, alive)).toMatchObject({ holder: 'alive' });
  });
  it('by the same scheduler task on another machine: an earlier run of a requeued job, gone', () => {
    expect(judgeClaim(holder({ schedulerTask: self.schedulerTask }), 1, self, now, timing, alive)).toMatchObject({ holder: 'gone', reason: expect.stringMatching(/earlier run of this scheduler task \(slurm:c:77:batch:0\)/) });
  });
  it('elsewhere: alive while its heartbeat is at most staleSeconds old', () => {
    expect(judgeClaim(holder({}), 1, self, now, timing, dead)).toEqual({ holder: 'alive', reason: 'process 200 on node-b is training it (claim renewed 10 s ago)' });
    expect(judgeClaim(holder({ heartbeatAt: '2026-12-05T11:50:00Z' }), 1, self, now, timing, alive)).toEqual({ holder: 'alive', reason: 'process 200 on node-b is training it (claim renewed 600 s ago)' });
    expect(judgeClaim(holder({ heartbeatAt: '2026-12-05T11:49:59Z' }), 1, self, now, timing, alive)).toMatchObject({ holder: 'gone', reason: expect.stringMatching(/has not renewed its claim for 601 s/) });
  });
  it('without an owner file yet: being written, unless the claim folder is older than staleSeconds', () => {
    expect(judgeClaim(undefined, 5, self, now, timing)).toMatchObject({ holder: 'alive' });
    expect(judgeClaim(undefined, 601, self, now, timing)).toMatchObject({ holder: 'gone' });
  });
});

describe('claimRun on a folder', () => {
  const other: ProcessIdentity = { host: 'node-b', machine: 'boot-b/pid:[1]', pid: 200, processStart: null, schedulerTask: null };

  it('gives a run folder to one process at a time, and to the next once released', async () => {
    const runDir = join(await scratchFolder('claim'), 'runs', 'cifar10-x');
    const first = await claimRun(runDir, { command: 'first' });
    expect(first.claimed).toBe(true);
    const owner = JSON.parse(await readFile(join(runDir, CLAIM_FOLDER, 'owner.json'), 'utf8')) as ClaimOwner;
    expect(owner).toMatchObject({ pid: process.pid, command: 'first', machine: currentProcessIdentity().machine });

    const second = await claimRun(runDir, { command: 'second', identity: other });
    expect(second).toMatchObject({ claimed: false, reason: expect.stringMatching(new RegExp(`process ${process.pid} on .* is training it`)) });
    if (first.claimed) await first.claim.release();
    expect(await readdir(runDir)).toEqual([]);
    const third = await claimRun(runDir, { command: 'third', identity: other });
    expect(third.claimed).toBe(true);
    if (third.claimed) await third.claim.release();
  });

  it('of many processes claiming at once, exactly one gets it', async () => {
    const runDir = join(await scratchFolder('claim-race'), 'runs', 'cifar10-y');
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => claimRun(runDir, { command: `p${i}`, identity: { ...other, machine: `machine-${i}`, pid: i } })));
    expect(outcomes.filter((outcome) => outcome.claimed)).toHaveLength(1);
    for (const outcome of outcomes) if (outcome.claimed) await outcome.claim.release();
  });

  it('takes over the claim of a process of this machine that died (SIGKILL leaves it behind)', async () => {
    const runDir = join(await scratchFolder('claim-dead'), 'runs', 'cifar10-z');
    // A real process that has ended: its pid no longer runs (or runs as another process, started later).
    const ended = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const identity = currentProcessIdentity();
    const dead = await claimRun(runDir, { command: 'killed', identity: { ...identity, pid: Number(ended.stdout), processStart: identity.processStart === null ? null : 'started-long-ago' } });
    expect(dead.claimed).toBe(true);
    // Never released, as after SIGKILL; this process comes next.
    const next = await claimRun(runDir, { command: 'rerun' });
    expect(next).toMatchObject({ claimed: true, tookOverBecause: `process ${ended.stdout} on this machine (${identity.host}) has ended` });
    expect((await readdir(runDir)).sort()).toEqual([CLAIM_FOLDER]);
    // The dead holder's release removes nothing: the claim is no longer its own.
    if (dead.claimed) await dead.claim.release();
    expect(JSON.parse(await readFile(join(runDir, CLAIM_FOLDER, 'owner.json'), 'utf8')).command).toBe('rerun');
    if (next.claimed) await next.claim.release();
  });

  it('renews its heartbeat while held, and says so (once) when another process took the claim over', async () => {
    const runDir = join(await scratchFolder('claim-heartbeat'), 'runs', 'cifar10-w');
    const lost: string[] = [];
    const held = await claimRun(runDir, { command: 'held', timing: { heartbeatSeconds: 0.05, staleSeconds: 600 }, onLost: (message) => lost.push(message) });
    if (!held.claimed) throw new Error('not claimed');
    const before = (await readClaimOwner(runDir))!.heartbeatAt;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(Date.parse((await readClaimOwner(runDir))!.heartbeatAt)).toBeGreaterThan(Date.parse(before));
    // A process elsewhere judged it stale (say this one was suspended for longer than staleSeconds) and took it over.
    const later = new Date(Date.now() + 3600_000);
    const taker = await claimRun(runDir, { command: 'taker', identity: other, now: () => later });
    expect(taker).toMatchObject({ claimed: true, tookOverBecause: expect.stringMatching(/has not renewed its claim for 36\d\d s/) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(new RegExp(`^the claim on ${runDir} was taken over( by process 200 on node-b)? while this process trained it$`));
    // The late holder's renewals and release leave the new owner's claim as it is.
    await held.claim.release();
    expect(await readClaimOwner(runDir)).toMatchObject({ command: 'taker', pid: 200 });
    if (taker.claimed) await taker.claim.release();
  });
});
