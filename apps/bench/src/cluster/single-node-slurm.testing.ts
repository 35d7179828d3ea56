// A Slurm cluster of one node on this machine, for the bench's Slurm test: munged, slurmctld and
// slurmd started as root from a generated slurm.conf in a temporary folder (their own ports, munge
// socket and key, state and logs), and stopped again, each by its process id.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

const DAEMONS = ['munged', 'slurmctld', 'slurmd'];
const CLIENTS = ['sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'];

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** Why a single-node Slurm cannot start here, or undefined when it can. */
export function slurmUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the Slurm daemons are started as root, and this is not root';
  const missing = [...DAEMONS, ...CLIENTS].filter((program) => !onPath(program));
  if (missing.length > 0) return `${missing.join(', ')} not installed (scripts/install-test-packages.sh installs slurm-wlm and munge, as root)`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitUntil(condition: () => Promise<boolean> | boolean, what: string, timeoutMs: number, logs: () => Promise<string>): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}.\n${await logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Processes of this cluster still alive: every process started from it (the daemons, slurmctld's
 * script helper, slurmd's step daemons, the jobs' shells and the bench in them) inherits its
 * SLURM_CONF, which names this cluster's own folder.
 */
async function processesOf(conf: string): Promise<{ pid: number; command: string }[]> {
  const marker = `SLURM_CONF=${conf}\0`;
  const found: { pid: number; command: string }[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!(await readFile(`/proc/${pid}/environ`, 'latin1')).includes(marker)) continue;
      found.push({ pid, command: (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim() });
    } catch {
      // Ended while we looked, or not ours to read.
    }
  }
  return found;
}

export interface SingleNodeSlurm {
  /** The environment Slurm's commands need (SLURM_CONF), on top of this process's. */
  environment: NodeJS.ProcessEnv;
  folder: string;
  /** Runs a Slurm command (sbatch, squeue, scontrol, ...) against this cluster; rejects with its output when it fails. */
  command(program: string, args: readonly string[], options?: { cwd?: string }): Promise<string>;
  /** The processes of this cluster alive now (daemons, step daemons, jobs), as `stop` checks none is left. */
  processes(): Promise<{ pid: number; command: string }[]>;
  /** The daemons' logs, for a failure's message. */
  logs(): Promise<string>;
  /**
   * Cancels every job, waits for them to end, stops the daemons and deletes the folder. Rejects,
   * naming them, when any process of the cluster outlived that (it kills them first).
   */
  stop(): Promise<void>;
}

/**
 * Starts munged, slurmctld and slurmd (one node with this machine's CPUs, cons_tres by core so
 * that tasks of one CPU each run side by side; process tracking by process tree, no cgroups).
 */
export async function startSingleNodeSlurm(): Promise<SingleNodeSlurm> {
  const folder = await mkdtemp(join(tmpdir(), 'mlaan-slurm-'));
  await chmod(folder, 0o700);
  const children: { name: string; child: ChildProcess }[] = [];
  const killAll = () => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // Whatever happens to this process, its daemons go with it.
  process.once('exit', killAll);

  const node = hostname().split('.')[0]!;
  const conf = join(folder, 'slurm.conf');
  const socket = join(folder, 'munge', 'munge.socket');
  const environment = { SLURM_CONF: conf };
  const logs = async () => {
    const parts: string[] = [];
    for (const name of ['munged.log', 'slurmctld.log', 'slurmd.log', 'slurmctld.out', 'slurmd.out']) {
      const path = join(folder, 'log', name);
      if (existsSync(path)) parts.push(`--- ${name} (last lines)\n${(await readFile(path, 'utf8')).split('\n').slice(-30).join('\n')}`);
    }
    return parts.join('\n');
  };
  const command = (program: string, args: readonly string[], options: { cwd?: string } = {}) =>
    new Promise<string>((resolve, reject) => {
      execFile(program, [...args], { env: { ...process.env, ...environment }, cwd: options.cwd, timeout: 60_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${program} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
    });
  const start = async (name: string, program: string, args: string[]) => {
    const out = openSync(join(folder, 'log', `${name}.out`), 'a');
    const child = spawn(program, args, { env: { ...process.env, ...environment }, stdio: ['ignore', out, out] });
    children.push({ name, child });
    return child;
  };

  try {
    await mkdir(join(folder, 'munge'), { mode: 0o700 });
    await mkdir(join(folder, 'log'));
    await mkdir(join(folder, 'state'));
    await mkdir(join(folder, 'spool'));
    await writeFile(join(folder, 'munge', 'munge.key'), randomBytes(1024), { mode: 0o400 });
    await start('munged', 'munged', [
      '--foreground',
      '--force',
      `--socket=${socket}`,
      `--key-file=${join(folder, 'munge', 'munge.key')}`,
      `--log-file=${join(folder, 'log', 'munged.log')}`,
      `--pid-file=${join(folder, 'munge', 'munged.pid')}`,
      `--seed-file=${join(folder, 'munge', 'munged.seed')}`,
    ]);
    await waitUntil(() => existsSync(socket), 'munged to open its socket', 20_000, logs);

    const [controllerPort, nodePort] = [await freePort(), await freePort()];
    await writeFile(
      conf,
      [
        'ClusterName=mlaantest',
        `SlurmctldHost=${node}(127.0.0.1)`,
        `SlurmctldPort=${controllerPort}`,
        `SlurmdPort=${nodePort}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${socket}`,
        `StateSaveLocation=${join(folder, 'state')}`,
        `SlurmdSpoolDir=${join(folder, 'spool')}`,
        `SlurmctldPidFile=${join(folder, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(folder, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(folder, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(folder, 'log', 'slurmd.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/none',
        'SwitchType=switch/none',
        'MpiDefault=none',
        'SchedulerType=sched/backfill',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'ReturnToService=2',
        // A finished job stays visible to squeue/scontrol for the test's checks.
        'MinJobAge=600',
        `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${availableParallelism()} RealMemory=1000 State=UNKNOWN`,
        `PartitionName=test Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    await start('slurmctld', 'slurmctld', ['-D', '-i', '-f', conf]);
    await waitUntil(async () => (await command('scontrol', ['ping']).catch(() => '')).includes('is UP'), 'slurmctld to answer', 60_000, logs);
    await start('slurmd', 'slurmd', ['-D', '-f', conf, '-N', node]);
    await waitUntil(async () => /idle/.test(await command('sinfo', ['--noheader', '--format=%t']).catch(() => '')), 'the node to be idle', 60_000, logs);
  } catch (error) {
    killAll();
    await rm(folder, { recursive: true, force: true });
    throw error;
  }

  const stop = async () => {
    // Jobs first: with process tracking by process tree, a job's processes would outlive slurmd.
    await command('scancel', ['--user=root']).catch(() => '');
    await waitUntil(async () => (await command('squeue', ['--noheader']).catch(() => '')).trim() === '', 'every job to end', 90_000, logs).catch(() => undefined);
    for (const { child } of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    process.off('exit', killAll);
    let left = await processesOf(conf);
    for (let waited = 0; left.length > 0 && waited < 10_000; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      left = await processesOf(conf);
    }
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await rm(folder, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`The single-node Slurm left ${left.length} process(es) running after it was stopped (now killed): ${left.map((p) => `${p.pid} ${p.command}`).join('; ')}`);
  };
  return { environment, folder, command, processes: () => processesOf(conf), logs, stop };
}
