/**
 * Data snapshots in a real worker process: SIGKILLed mid-download, another worker finishes with the exact
 * snapshot and no partial file taken for a whole one; and a 1 GiB snapshot downloaded, extracted and
 * installed while the worker's peak memory (VmHWM, measured by the kernel) stays under 200 MB.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { startProcedure } from '../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import type { CantonNetworkRecoveryResult } from '../../workflows/canton-network-recovery';
import { statusQuery } from '../../contracts/status';
import { startTestValidator, writeCantonConfig } from '../helpers/canton';
import { loadSpliceApi } from '../helpers/splice-openapi';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { buildWorker, startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  type TestTemporal,
} from '../helpers/temporal';
import { loadConfig } from '../../shared/config';
import { waitFor } from '../helpers/wait';

const MB = 1024 * 1024;

/** Peak and current resident memory of a process, from the kernel. */
function memoryOf(pid: number): { peakMb: number; rssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

describe('canton data snapshots in a worker process', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let sim: CantonValidatorSimulator;
  let dir: string;
  let configFile: string;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database validator');
    pg.sql('validator', 'create table users (name text primary key, onboarded_at timestamptz not null)');
    dir = scratchDir('canton-snapshot');
    const volume = path.join(dir, 'domain-upgrade-dump');
    mkdirSync(volume);
    sim = await startTestValidator(pg, 'PAR::validator1::1220bb', 'LEDGER_DR_TEST_CANTON_SNAP_TOKEN', {
      dumpVolume: volume,
    });
    configFile = writeCantonConfig(dir, {
      network: 'snap',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_TEST_CANTON_SNAP_TOKEN',
      dumpVolume: volume,
    }).file;
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    // Every request and answer of the file's tests, checked against Splice's own OpenAPI files.
    const problems = sim ? loadSpliceApi().validateAll(sim.exchanges) : [];
    await sim?.stop();
    await pg?.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  /** Starts a recovery and confirms the participant's health (no backup exists near the timestamp). */
  async function startRecovery(taskQueue: string): Promise<WorkflowHandle> {
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonNetworkRecovery',
      network: 'snap',
      taskQueue,
      input: { timestamp: new Date().toISOString(), pollIntervalMs: 200, readinessTimeoutMs: 60_000 },
    });
    await waitFor('the health confirmation to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.length > 0 ? true : undefined,
    );
    await handle.executeUpdate('approve', { args: [{ actor: 'olga' }] });
    return handle;
  }

  it('finishes a download interrupted by a SIGKILL with the exact snapshot', async () => {
    const taskQueue = uniqueTaskQueue('canton-snap-crash');
    // 48 MiB at 12 MiB/s: the kill lands well inside the body.
    sim.snapshot = { bytes: 48 * MB, notCaughtUp: 0, pruned: false, bytesPerSecond: 12 * MB };
    worker = await startWorkerProcess({ configFile, taskQueue });
    const handle = await startRecovery(taskQueue);
    const snapshots = path.join(dir, 'backups', 'data-snapshots');
    let partial = '';
    await waitFor('a download in progress', async () => {
      for (const run of readdirSync(snapshots, { withFileTypes: true }).filter((e) => e.isDirectory())) {
        const file = path.join(snapshots, run.name, 'dump_response.json.partial-1');
        try {
          if (statSync(file).size > 4 * MB) return (partial = file);
        } catch {
          // not there yet
        }
      }
      return undefined;
    });
    expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
    sim.snapshot.bytesPerSecond = undefined;
    worker = await startWorkerProcess({ configFile, taskQueue });
    const result = (await handle.result()) as CantonNetworkRecoveryResult;

    expect(result.outcome).toBe('migrated');
    // Only whole bodies count as served; the dump is exactly the one the second attempt received.
    expect(sim.snapshotsServed).toHaveLength(1);
    expect(result.migrationDump!.sha256).toBe(sim.snapshotsServed[0]!.sha256);
    expect(sim.dumpsConsumed.at(-1)).toEqual({ migrationId: 4, sha256: sim.snapshotsServed[0]!.sha256 });
    expect(readdirSync(path.dirname(partial))).toEqual(['domain_migration_dump.json']);
    const attempts = ((await handle.fetchHistory()).events ?? []).map(
      (e) => e.activityTaskStartedEventAttributes?.attempt ?? 0,
    );
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
    await worker.kill('SIGKILL');
  }, 180_000);

  it('handles a 1 GiB snapshot with the worker under 200 MB peak memory', async () => {
    const taskQueue = uniqueTaskQueue('canton-snap-big');
    sim.snapshot = { bytes: 1024 * MB, notCaughtUp: 0, pruned: false };
    // The deployment for large dumps: workflows in one worker, the streaming activities in another process on
    // the same task queue. The activity worker holds the gigabyte stream and is the one measured. It runs
    // compiled, as the container image runs it (tsx would add its own compiler's memory).
    const workflows = await startTestWorker(
      temporal,
      taskQueue,
      { config: loadConfig(configFile) },
      { role: 'workflows' },
    );
    try {
      const activities = await startWorkerProcess({
        configFile,
        taskQueue,
        env: { LEDGER_DR_WORKER_ROLE: 'activities' },
        compiledEntry: buildWorker(path.join(dir, 'dist')),
      });
      worker = activities;
      const idle = memoryOf(activities.child.pid!);
      const started = Date.now();
      const handle = await startRecovery(taskQueue);
      const result = (await handle.result()) as CantonNetworkRecoveryResult;
      const seconds = (Date.now() - started) / 1000;
      const after = memoryOf(activities.child.pid!);

      expect(result.outcome).toBe('migrated');
      expect(result.migrationDump!.bytes).toBeGreaterThan(1024 * MB);
      expect(result.migrationDump!.sha256).toBe(sim.snapshotsServed.at(-1)!.sha256);
      expect(sim.dumpsConsumed.at(-1)!.sha256).toBe(result.migrationDump!.sha256);
      const steps = Object.fromEntries(result.report.steps.map((s) => [s.name, (s.durationMs ?? 0) / 1000]));
      process.stdout.write(
        `1 GiB data snapshot: activity worker peak ${after.peakMb.toFixed(0)} MB (idle peak ${idle.peakMb.toFixed(0)} MB), ` +
          `download ${steps['request-snapshot']}s, extraction ${steps.extract}s, run ${seconds.toFixed(1)}s\n`,
      );
      expect(after.peakMb).toBeLessThan(200);
    } finally {
      await worker?.kill('SIGKILL');
      await workflows.stop();
    }
  }, 300_000);
});
