import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from './json-files.js';

/**
 * One process at a time trains a configuration, also when several shards (or a shard and its
 * requeued self) share a results folder on a network file system: a shard claims a run folder
 * before it trains it by creating `runs/<id>/claim/` (mkdir is atomic, on NFS too), writes who it
 * is into `claim/owner.json` once and renews a heartbeat while it trains, in a file of its own
 * (`claim/heartbeat-<token>`: a renewal that races with a takeover lands beside the new owner's
 * files instead of over them); it removes the claim
 * when the run finishes, fails or stops. A claim left by a process that died (SIGKILL, a lost
 * node) is taken over, by the rules of `judgeClaim`.
 */
export const CLAIM_FOLDER = 'claim';
const OWNER_FILE = 'owner.json';

/** Who holds a claim: enough to tell whether that process is still alive, and to name it to a user. */
export interface ClaimOwner {
  host: string;
  /**
   * The process-id space the pid belongs to: on Linux the boot id and pid namespace (containers
   * on one kernel have their own), elsewhere the host name.
   */
  machine: string;
  pid: number;
  /** When the kernel started that process (Linux /proc/<pid>/stat), so that a reused pid is not taken for it. */
  processStart: string | null;
  /** The scheduler's task the process runs as (a Slurm job, its step and rank), which a requeued task keeps. */
  schedulerTask: string | null;
  command: string;
  claimedAt: string;
  /** The last renewal (its heartbeat file), else when it claimed. */
  heartbeatAt: string;
  /** Unique per claim, so that a process only ever removes its own. */
  token: string;
}

export interface ClaimTiming {
  /** How often a holder renews its heartbeat. */
  heartbeatSeconds: number;
  /** A claim whose heartbeat is older than this, held from another machine, is taken over. */
  staleSeconds: number;
}

/**
 * Renewed every 30 s; a claim of another machine (where the holder's pid cannot be checked) is
 * taken over after 10 minutes without a renewal: far above a training step's length, even a slow
 * CPU step at batch 1024 (the heartbeat is renewed between steps).
 */
export const DEFAULT_CLAIM_TIMING: ClaimTiming = { heartbeatSeconds: 30, staleSeconds: 600 };

/** This process, as a claim records it. */
export interface ProcessIdentity {
  host: string;
  machine: string;
  pid: number;
  processStart: string | null;
  schedulerTask: string | null;
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat, the process's start time in clock ticks since boot (Linux). */
function processStartOf(pid: number | 'self'): string | null {
  const stat = readTrimmed(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

function machineId(): string {
  const bootId = readTrimmed('/proc/sys/kernel/random/boot_id');
  if (!bootId) return hostname();
  let namespace = '';
  try {
    namespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // No namespaces to tell apart.
  }
  return `${bootId}/${namespace}`;
}

/**
 * The Slurm task this process runs as: job, step and rank. A requeued batch job keeps its job id
 * (and runs again as step "batch", rank 0), and Slurm starts it again only after every process of
 * the earlier run has ended, so the same task id means the earlier holder is gone. Processes that
 * share a job (GNU parallel inside one allocation, `srun -n 4`) differ by machine and pid or rank.
 */
function slurmTask(environment: NodeJS.ProcessEnv): string | null {
  const job = environment.SLURM_JOB_ID;
  if (!job) return null;
  return `slurm:${environment.SLURM_CLUSTER_NAME ?? ''}:${job}:${environment.SLURM_STEP_ID ?? 'batch'}:${environment.SLURM_PROCID ?? '0'}`;
}

export function currentProcessIdentity(environment: NodeJS.ProcessEnv = process.env): ProcessIdentity {
  return { host: hostname(), machine: machineId(), pid: process.pid, processStart: processStartOf('self'), schedulerTask: slurmTask(environment) };
}

/** Whether the process `pid` of this machine runs, and is the one that started at `processStart`. */
export function processIsAlive(pid: number, processStart: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStartOf(pid);
  return processStart === null || start === null || start === processStart;
}

export type ClaimVerdict =
  | { holder: 'alive'; reason: string }
  | { holder: 'gone'; reason: string };

/**
 * Whether a claim's holder may still be training. In this order:
 * 1. a holder on this machine is alive exactly when its process is (pid and start time);
 * 2. a holder that is this process's scheduler task (a Slurm job that was requeued, preempted or
 *    restarted: Slurm reruns it only after the earlier run ended) is gone;
 * 3. a holder elsewhere is gone once its heartbeat is older than `timing.staleSeconds`;
 * otherwise it is alive. A claim folder without a readable owner file yet is being written,
 * unless the folder itself is that old.
 */
export function judgeClaim(
  holder: ClaimOwner | undefined,
  claimAgeSeconds: number,
  self: ProcessIdentity,
  now: Date,
  timing: ClaimTiming,
  isAlive: (pid: number, processStart: string | null) => boolean = processIsAlive,
): ClaimVerdict {
  if (!holder) {
    return claimAgeSeconds > timing.staleSeconds
      ? { holder: 'gone', reason: `its claim has had no owner file for ${Math.round(claimAgeSeconds)} s` }
      : { holder: 'alive', reason: 'its claim is being written' };
  }
  if (holder.machine === self.machine) {
    return isAlive(holder.pid, holder.processStart)
      ? { holder: 'alive', reason: `process ${holder.pid} on this machine is training it` }
      : { holder: 'gone', reason: `process ${holder.pid} on this machine (${holder.host}) has ended` };
  }
  if (holder.schedulerTask !== null && holder.schedulerTask === self.schedulerTask) {
    return { holder: 'gone', reason: `it was claimed by an earlier run of this scheduler task (${holder.schedulerTask}), which has ended` };
  }
  const silence = (now.getTime() - Date.parse(holder.heartbeatAt)) / 1000;
  if (!(silence <= timing.staleSeconds)) {
    return { holder: 'gone', reason: `process ${holder.pid} on ${holder.host} has not renewed its claim for ${Math.round(silence)} s (more than ${timing.staleSeconds} s)` };
  }
  return { holder: 'alive', reason: `process ${holder.pid} on ${holder.host} is training it (claim renewed ${Math.max(0, Math.round(silence))} s ago)` };
}

const heartbeatFile = (token: string) => `heartbeat-${token}`;

async function readOwner(claimDir: string): Promise<ClaimOwner | undefined> {
  let owner: ClaimOwner;
  try {
    owner = JSON.parse(await readFile(join(claimDir, OWNER_FILE), 'utf8')) as ClaimOwner;
  } catch {
    return undefined;
  }
  if (typeof owner.token !== 'string') return undefined;
  try {
    const renewed = (await readFile(join(claimDir, heartbeatFile(owner.token)), 'utf8')).trim();
    if (Date.parse(renewed) > Date.parse(owner.heartbeatAt)) owner.heartbeatAt = renewed;
  } catch {
    // Not renewed yet.
  }
  return owner;
}

/** Who holds the claim on `runDir`, with its last heartbeat; undefined when none (or it is being written). */
export function readClaimOwner(runDir: string): Promise<ClaimOwner | undefined> {
  return readOwner(join(runDir, CLAIM_FOLDER));
}

async function ageSeconds(path: string, now: Date): Promise<number> {
  try {
    return (now.getTime() - (await stat(path)).mtimeMs) / 1000;
  } catch {
    return 0;
  }
}

/** A claim this process holds: renews its heartbeat until released. */
export class RunClaim {
  private timer: NodeJS.Timeout | undefined;
  private lostReported = false;

  constructor(
    readonly runDir: string,
    private readonly owner: ClaimOwner,
    timing: ClaimTiming,
    private readonly onLost: (message: string) => void,
  ) {
    this.timer = setInterval(() => void this.renew(), timing.heartbeatSeconds * 1000);
    // A heartbeat never keeps the process alive on its own.
    this.timer.unref();
  }

  private get claimDir(): string {
    return join(this.runDir, CLAIM_FOLDER);
  }

  /** Renews the heartbeat, unless the claim is no longer this process's (then says so, once). */
  async renew(): Promise<void> {
    const current = await readOwner(this.claimDir);
    if (current?.token !== this.owner.token) {
      if (!this.lostReported) {
        this.lostReported = true;
        this.onLost(`the claim on ${this.runDir} was taken over${current ? ` by process ${current.pid} on ${current.host}` : ''} while this process trained it`);
      }
      return;
    }
    try {
      await writeFileAtomic(join(this.claimDir, heartbeatFile(this.owner.token)), new Date().toISOString());
    } catch {
      // The folder went away between the read and the write: the next renewal reports it.
    }
  }

  /** Removes the claim if it is still this process's. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const current = await readOwner(this.claimDir);
    if (current?.token !== this.owner.token) return;
    const released = join(this.runDir, `${CLAIM_FOLDER}.released-${this.owner.token}`);
    try {
      await rename(this.claimDir, released);
    } catch {
      return;
    }
    await rm(released, { recursive: true, force: true });
  }
}

export type ClaimOutcome =
  | { claimed: true; claim: RunClaim; tookOverBecause?: string }
  | { claimed: false; holder: ClaimOwner | undefined; reason: string };

export interface ClaimOptions {
  command: string;
  timing?: ClaimTiming;
  identity?: ProcessIdentity;
  now?: () => Date;
  isAlive?: (pid: number, processStart: string | null) => boolean;
  /** Called if another process takes the claim over while this one holds it. */
  onLost?: (message: string) => void;
}

/**
 * Claims `runDir` for this process, taking over a claim whose holder is gone (`judgeClaim`). When
 * another process holds it, says who and why it is taken to be alive.
 */
export async function claimRun(runDir: string, options: ClaimOptions): Promise<ClaimOutcome> {
  const timing = options.timing ?? DEFAULT_CLAIM_TIMING;
  const identity = options.identity ?? currentProcessIdentity();
  const now = options.now ?? (() => new Date());
  const claimDir = join(runDir, CLAIM_FOLDER);
  await mkdir(runDir, { recursive: true });
  let tookOverBecause: string | undefined;
  // A few rounds: another process may take over or create the claim between our steps.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await mkdir(claimDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await readOwner(claimDir);
      const verdict = judgeClaim(holder, await ageSeconds(claimDir, now()), identity, now(), timing, options.isAlive);
      if (verdict.holder === 'alive') return { claimed: false, holder, reason: verdict.reason };
      if (!(await breakClaim(runDir, holder))) continue;
      tookOverBecause = verdict.reason;
      continue;
    }
    const stamp = now().toISOString();
    const owner: ClaimOwner = { ...identity, command: options.command, claimedAt: stamp, heartbeatAt: stamp, token: randomBytes(8).toString('hex') };
    await writeJsonAtomic(join(claimDir, OWNER_FILE), owner);
    return { claimed: true, claim: new RunClaim(runDir, owner, timing, options.onLost ?? (() => undefined)), tookOverBecause };
  }
  const holder = await readOwner(claimDir);
  return { claimed: false, holder, reason: 'other processes kept claiming it at the same moment' };
}

/**
 * Moves a dead holder's claim aside (rename is atomic: of several processes taking it over, one
 * moves it) and deletes it. If what was moved is not the claim that was judged (its holder was
 * replaced in between), it is put back. Returns whether the judged claim is gone.
 */
async function breakClaim(runDir: string, judged: ClaimOwner | undefined): Promise<boolean> {
  const claimDir = join(runDir, CLAIM_FOLDER);
  const aside = join(runDir, `${CLAIM_FOLDER}.broken-${randomBytes(8).toString('hex')}`);
  try {
    await rename(claimDir, aside);
  } catch {
    return false;
  }
  const moved = await readOwner(aside);
  if (judged && moved?.token !== judged.token) {
    try {
      await rename(aside, claimDir);
      return false;
    } catch {
      // A newer claim exists already; the one moved aside loses its folder and learns it at its next renewal.
    }
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}
