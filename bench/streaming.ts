/**
 * Row 4: a 2 GB data snapshot downloaded from the validator simulator, and a 2 GB PostgreSQL dump restored, by
 * ledger-dr's workflows in compiled worker processes, each beside its baseline run by hand in the same run:
 * `curl -o` for the download, `pg_restore` for the restore. Throughput and the streaming worker's peak memory.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { startProcedure } from '../shared/start-procedure';
import type { CantonBackupResult } from '../workflows/canton-backup';
import type { CantonNetworkRecoveryResult } from '../workflows/canton-network-recovery';
import type { CantonRestoreResult } from '../workflows/canton-restore';
import { statusQuery } from '../contracts/status';
import { cantonNetworkConfig, startTestValidator } from '../test/helpers/canton';
import { startTestPostgres } from '../test/helpers/postgres';
import { uniqueTaskQueue, writeConfig } from '../test/helpers/temporal';
import { peakRssMb, sleep, startBenchWorker, type BenchContext, type BenchRow } from './harness';

const GB = 2 ** 30;
const execFileAsync = promisify(execFile);
const TOKEN_ENV = 'LEDGER_DR_BENCH_CANTON_TOKEN';

export async function streaming(context: BenchContext, sizeGb = 2): Promise<BenchRow[]> {
  const pg = await startTestPostgres();
  const dir = path.join(context.dir, 'canton');
  const volume = path.join(dir, 'domain-upgrade-dump');
  mkdirSync(volume, { recursive: true });
  try {
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql(
      'validator',
      "create table users (name text primary key, onboarded_at timestamptz not null); insert into users values ('alice', now())",
    );
    // Random bytes do not compress, so the custom-format dump is as large as the table.
    context.log(`  filling the participant database with ${sizeGb} GB of incompressible rows`);
    const rows = Math.round((sizeGb * GB) / 1024);
    pg.sql('participant-3', 'create extension if not exists pgcrypto');
    pg.sql('participant-3', 'create table contracts (id bigint primary key, payload bytea not null)');
    pg.sql(
      'participant-3',
      `insert into contracts select i, gen_random_bytes(1024) from generate_series(1, ${rows}) i`,
    );
    const sim = await startTestValidator(pg, 'PAR::bench::1220aa', TOKEN_ENV, { dumpVolume: volume });
    sim.snapshot = { bytes: sizeGb * GB, notCaughtUp: 0, pruned: false };
    const { network } = cantonNetworkConfig(dir, {
      network: 'bench-canton',
      pg,
      sim,
      tokenEnv: TOKEN_ENV,
      dumpVolume: volume,
    });
    const { file } = writeConfig(dir, { networks: { 'bench-canton': network } });
    const taskQueue = uniqueTaskQueue('bench-canton');
    const rows_: BenchRow[] = [];
    try {
      // ---- Restore: ledger-dr's backup and restore, then pg_restore by hand from the same dump.
      let worker = await startSplitWorkers(context, file, taskQueue);
      const backup = (await (
        await startProcedure(context.client, {
          procedure: 'cantonBackup',
          network: 'bench-canton',
          taskQueue,
          input: {},
        })
      ).result()) as CantonBackupResult;
      const dump = backup.manifest.files.find((f) => f.what === 'database participant-3')!;
      // The backup's dump is measured by the restore only: a fresh worker, so its peak is the restore's.
      await worker.kill();
      worker = await startSplitWorkers(context, file, taskQueue);
      execFileSync('sync');
      const restore = (await (
        await startProcedure(context.client, {
          procedure: 'cantonRestore',
          network: 'bench-canton',
          taskQueue,
          input: { backupId: backup.backupId, pollIntervalMs: 200 },
        })
      ).result()) as CantonRestoreResult;
      const restoreRss = peakRssMb(worker.activities.child.pid!);
      await worker.kill();
      const restoreStep = restore.report.steps.find((s) => s.name === 'restore')!.durationMs! / 1000;
      const oursRestore = dump.bytes / GB / restoreStep;
      pg.sql('postgres', 'create database by_hand');
      execFileSync('sync');
      const handStart = Date.now();
      execFileSync(
        path.join(pg.binDir, 'pg_restore'),
        [
          '--no-password',
          '--exit-on-error',
          '-h',
          pg.host,
          '-p',
          String(pg.port),
          '-U',
          pg.user,
          '-d',
          'by_hand',
          dump.file,
        ],
        { env: { ...process.env, PGPASSWORD: pg.password } },
      );
      const byHand = dump.bytes / GB / ((Date.now() - handStart) / 1000);
      context.log(
        `  dump ${(dump.bytes / GB).toFixed(2)} GB: restore ${oursRestore.toFixed(3)} GB/s (pg_restore by hand ${byHand.toFixed(3)} GB/s), activity worker peak ${restoreRss} MB`,
      );
      rows_.push(
        {
          row: '4 streaming',
          metric: `PostgreSQL restore (${(dump.bytes / GB).toFixed(1)} GB dump)`,
          value: oursRestore,
          unit: 'GB/s',
          baseline: byHand,
          ratio: oursRestore / byHand,
          target: '≥ 0.80 of pg_restore by hand',
          met: oursRestore / byHand >= 0.8,
          notes: 'the restore step; the run also verifies the dump’s SHA-256 first',
        },
        {
          row: '4 streaming',
          metric: 'activity worker peak RSS, restore',
          value: restoreRss,
          unit: 'MB',
          target: '< 200 MB',
          met: restoreRss < 200,
        },
      );
      // ---- Download: curl by hand, ledger-dr's data-snapshot recovery, curl again; the baseline is their mean.
      // Each starts with the disk's dirty pages written out, so no download pays for the one before it.
      const timestamp = new Date(Date.now() - 60_000).toISOString();
      const curlDownload = async () => {
        const curlFile = path.join(dir, 'curl-snapshot.json');
        execFileSync('sync');
        const started = Date.now();
        // Asynchronously: the validator simulator answering curl runs in this very process.
        await execFileAsync('curl', [
          '-sS',
          '--fail',
          '-o',
          curlFile,
          '-H',
          `authorization: Bearer ${process.env[TOKEN_ENV]}`,
          `${sim.url}/api/validator/v0/admin/domain/data-snapshot?timestamp=${encodeURIComponent(timestamp)}&force=true`,
        ]);
        const rate = statSync(curlFile).size / GB / ((Date.now() - started) / 1000);
        rmSync(curlFile);
        return rate;
      };
      const curlBefore = await curlDownload();
      // After the restore: a data-snapshot recovery moves the validator to the next migration id.
      worker = await startSplitWorkers(context, file, taskQueue);
      execFileSync('sync');
      const handle = await startProcedure(context.client, {
        procedure: 'cantonNetworkRecovery',
        network: 'bench-canton',
        taskQueue,
        input: { timestamp, pollIntervalMs: 200 },
      });
      await approveHealth(handle);
      const recovery = (await handle.result()) as CantonNetworkRecoveryResult;
      const downloadRss = peakRssMb(worker.activities.child.pid!);
      await worker.kill();
      const step = (name: string) => {
        const s = recovery.report.steps.find((x) => x.name === name)!;
        return s.durationMs! / 1000;
      };
      // Every answer at this timestamp is the same body (curl got it too).
      const bodyBytes = sim.snapshotsServed.find((served) => served.timestamp === timestamp)!.bytes;
      const ours = bodyBytes / GB / step('request-snapshot');
      const extract = bodyBytes / GB / step('extract');
      const curl = (curlBefore + (await curlDownload())) / 2;
      context.log(
        `  snapshot ${(bodyBytes / GB).toFixed(2)} GB: download ${ours.toFixed(2)} GB/s (curl ${curl.toFixed(2)} GB/s), extraction ${extract.toFixed(2)} GB/s, activity worker peak ${downloadRss} MB`,
      );
      rows_.push(
        {
          row: '4 streaming',
          metric: `data snapshot download (${sizeGb} GB)`,
          value: ours,
          unit: 'GB/s',
          baseline: curl,
          ratio: ours / curl,
          target: '≥ 0.80 of curl -o',
          met: ours / curl >= 0.8,
        },
        {
          row: '4 streaming',
          metric: 'activity worker peak RSS, snapshot download + extraction',
          value: downloadRss,
          unit: 'MB',
          target: '< 200 MB',
          met: downloadRss < 200,
          notes: `extraction of data_snapshot at ${extract.toFixed(2)} GB/s`,
        },
      );

      return rows_;
    } finally {
      await sim.stop();
    }
  } finally {
    await pg.stop();
  }
}

/**
 * The deployment docs/canton.md gives validators with large databases: one process runs the workflows, another
 * the activities that stream, so the streaming one holds no workflow cache. Its peak is the figure.
 */
async function startSplitWorkers(context: BenchContext, file: string, taskQueue: string) {
  const workflows = await startBenchWorker(context, file, taskQueue, { LEDGER_DR_WORKER_ROLE: 'workflows' });
  const activities = await startBenchWorker(context, file, taskQueue, { LEDGER_DR_WORKER_ROLE: 'activities' });
  return {
    activities,
    async kill() {
      await activities.kill('SIGTERM');
      await workflows.kill('SIGTERM');
    },
  };
}

/** No backup is near the timestamp: the operator confirms the participant was healthy then. */
async function approveHealth(handle: WorkflowHandle): Promise<void> {
  for (;;) {
    const status = await handle.query(statusQuery);
    if (status.awaiting.some((a) => a.what.startsWith('confirmation'))) {
      await handle.executeUpdate('approve', { args: [{ actor: 'bench' }] });
      return;
    }
    if (status.report.outcome !== 'in-progress') return;
    await sleep(200);
  }
}
