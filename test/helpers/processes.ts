/**
 * Worker processes for crash tests: the real worker entry point (workers/main.ts) in its own process, so a
 * SIGKILL kills it the way a machine failure would.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './paths';
import { devServerAddress, workflowBundlePath } from './temporal';

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startWorkerProcess(options: {
  configFile: string;
  taskQueue: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** The compiled worker (`dist/workers/main.js`, as the container runs it) instead of the sources via tsx. */
  compiledEntry?: string;
  /** Flags for node itself (the Dockerfile's, say), before the entry point. */
  nodeFlags?: string[];
}): Promise<WorkerProcess> {
  const entry = [
    ...(options.nodeFlags ?? []),
    ...(options.compiledEntry
      ? [options.compiledEntry]
      : ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts')]),
  ];
  const child = spawn(process.execPath, entry, {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      LEDGER_DR_CONFIG: options.configFile,
      LEDGER_DR_TASK_QUEUE: options.taskQueue,
      LEDGER_DR_WORKFLOW_BUNDLE: workflowBundlePath(),
      LEDGER_DR_METRICS_ADDRESS: 'off',
      TEMPORAL_ADDRESS: devServerAddress(),
      TEMPORAL_NAMESPACE: 'default',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (!output.includes('"msg":"worker running"')) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`worker process exited early:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`worker process not ready in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Pids of live processes whose command line contains `marker` (for "nothing left behind" checks). */
export function processesMentioning(marker: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmdline.includes(marker) && state !== 'Z') found.push({ pid: Number(entry), cmdline });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Compiles the project as `npm run build` does, into `outDir`; returns the worker's entry point there. */
export function buildWorker(outDir: string): string {
  execFileSync(
    process.execPath,
    [
      path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      outDir,
    ],
    {
      cwd: PROJECT_ROOT,
      stdio: 'pipe',
    },
  );
  return path.join(outDir, 'workers', 'main.js');
}
