/**
 * What every benchmark row shares: a Temporal dev server, the workflow bundle, the worker compiled as it ships
 * (`npm run build`), worker processes whose peak memory is read from the kernel, and the table.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, Runtime } from '@temporalio/worker';
import { createDataConverter, FAILURE_CONVERTER_PATH } from '../shared/codec';
import { startDevServer, type DevServer } from '../shared/dev-server';
import { WORKFLOWS_PATH } from '../workers/worker';
import { postgresBinDir } from '../test/helpers/postgres';
import { buildWorker, startWorkerProcess, type WorkerProcess } from '../test/helpers/processes';
import { PROJECT_ROOT, TEST_DATA_DIR } from '../test/helpers/paths';
import { TEST_ENCRYPTION } from '../test/helpers/temporal';

export interface BenchRow {
  /** The issue's row number and a short name. */
  row: string;
  metric: string;
  value: number;
  unit: string;
  baseline?: number;
  /** value / baseline, phrased so that it can be compared with the target. */
  ratio?: number;
  target: string;
  met: boolean;
  notes?: string;
}

export interface BenchContext {
  client: Client;
  dir: string;
  /** The compiled worker's entry point. */
  workerEntry: string;
  log(line: string): void;
}

export async function startBench(log: (line: string) => void): Promise<BenchContext & { stop(): Promise<void> }> {
  const dir = TEST_DATA_DIR;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'codec.key'), randomBytes(32).toString('base64'));
  log('starting a Temporal dev server, bundling the workflows and compiling the worker (npm run build)');
  const server: DevServer = await startDevServer();
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => log(m) },
  });
  const bundle = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundle, code);
  process.env.LEDGER_DR_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.LEDGER_DR_TEST_WORKFLOW_BUNDLE = bundle;
  const workerEntry = buildWorker(path.join(dir, 'dist'));
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({
    connection,
    namespace: 'default',
    dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
  });
  return {
    client,
    dir,
    workerEntry,
    log,
    async stop() {
      await connection.close();
      await server.env.teardown();
      // The dev server is the native runtime's child: it goes when the runtime shuts down.
      await Runtime.instance().shutdown();
    },
  };
}

/** The node flags the container image runs the worker with (the Dockerfile's CMD). */
export function shippedNodeFlags(): string[] {
  const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
  const argv = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  return argv.slice(1, -1);
}

/** A compiled worker process, run as the container image runs it. */
export function startBenchWorker(
  context: BenchContext,
  configFile: string,
  taskQueue: string,
  env: Record<string, string> = {},
): Promise<WorkerProcess> {
  return startWorkerProcess({
    configFile,
    taskQueue,
    compiledEntry: context.workerEntry,
    nodeFlags:
      process.env.BENCH_NODE_FLAGS !== undefined
        ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
        : shippedNodeFlags(),
    env,
    readyTimeoutMs: 120_000,
  });
}

/** The process's peak resident set so far (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

/** Total length of the union of [from, to] intervals, clipped to [start, end]. */
export function unionMs(intervals: { from: number; to: number }[], start: number, end: number): number {
  const clipped = intervals
    .map((i) => ({ from: Math.max(i.from, start), to: Math.min(i.to, end) }))
    .filter((i) => i.to > i.from)
    .sort((a, b) => a.from - b.from);
  let total = 0;
  let current: { from: number; to: number } | undefined;
  for (const i of clipped) {
    if (current && i.from <= current.to) current.to = Math.max(current.to, i.to);
    else {
      if (current) total += current.to - current.from;
      current = { ...i };
    }
  }
  if (current) total += current.to - current.from;
  return total;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The machine the figures come from. */
export function machine(): Record<string, string> {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  let postgres = 'not installed';
  try {
    postgres = execFileSync(path.join(postgresBinDir(), 'postgres'), ['--version']).toString().trim();
  } catch {
    // reported as not installed
  }
  return {
    cpu: `${cpu} × ${os.cpus().length}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
  };
}

export function renderTable(rows: BenchRow[]): string {
  const header = ['row', 'metric', 'ledger-dr', 'baseline', 'ratio', 'target', 'met'];
  const fmt = (n: number | undefined, unit = '') =>
    n === undefined ? '—' : `${Number.isInteger(n) ? n : n.toFixed(n < 10 ? 2 : 1)}${unit ? ` ${unit}` : ''}`;
  const body = rows.map((r) => [
    r.row,
    r.metric,
    fmt(r.value, r.unit),
    fmt(r.baseline, r.unit),
    r.ratio === undefined ? '—' : r.ratio.toFixed(2),
    r.target,
    r.met ? 'yes' : 'NO',
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
