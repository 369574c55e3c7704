/**
 * The worker process is SIGKILLed mid-dump and mid-restore (pg_dump and pg_restore are slowed by wrappers so
 * the kill lands inside them). Another worker process finishes each run; the data is right and no partial
 * file or half-restored database is taken for a complete one.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startProcedure } from '../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import type { CantonBackupResult } from '../../workflows/canton-backup';
import type { CantonRestoreResult } from '../../workflows/canton-restore';
import { startTestValidator, writeCantonConfig } from '../helpers/canton';
import { loadSpliceApi } from '../helpers/splice-openapi';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import { connectTestTemporal, scratchDir, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

describe('canton backup and restore survive SIGKILL of the worker', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let sim: CantonValidatorSimulator;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql(
      'validator',
      "create table users (name text primary key, onboarded_at timestamptz not null); insert into users values ('alice', now())",
    );
    pg.sql(
      'participant-3',
      'create table contracts (id bigint primary key, payload text not null); insert into contracts select i, md5(i::text) from generate_series(1, 50000) i',
    );
    sim = await startTestValidator(pg, 'PAR::crash::1220ff', 'LEDGER_DR_TEST_CANTON_CRASH_TOKEN');
  });
  afterAll(async () => {
    // Every request and answer of the file's tests, checked against Splice's own OpenAPI files.
    const problems = sim ? loadSpliceApi().validateAll(sim.exchanges) : [];
    await sim?.stop();
    await pg?.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  it('completes a backup and a restore, each interrupted by a SIGKILL', async () => {
    const dir = scratchDir('canton-crash');
    // pg_dump and pg_restore that take a few seconds before working, so a kill lands inside them.
    const slowBin = path.join(dir, 'bin');
    mkdirSync(slowBin);
    for (const tool of ['pg_dump', 'pg_restore']) {
      writeFileSync(path.join(slowBin, tool), `#!/bin/sh\nsleep 3\nexec ${path.join(pg.binDir, tool)} "$@"\n`);
      chmodSync(path.join(slowBin, tool), 0o755);
    }
    const { file } = writeCantonConfig(dir, {
      network: 'crashy',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_TEST_CANTON_CRASH_TOKEN',
      binDir: slowBin,
    });
    const checksum = (db: string) =>
      pg.sql(db, "select count(*) || ':' || md5(string_agg(id::text || payload, ',' order by id)) from contracts");
    const taskQueue = uniqueTaskQueue('canton-crash');
    let worker: WorkerProcess = await startWorkerProcess({ configFile: file, taskQueue });
    try {
      // ---- Kill during the dump.
      const original = checksum('participant-3');
      const backupRun = await startProcedure(temporal.client, {
        procedure: 'cantonBackup',
        network: 'crashy',
        taskQueue,
        input: {},
      });
      await waitFor('a dump in progress', async () => {
        const root = path.join(dir, 'backups');
        const folders = existsSync(root) ? readdirSync(root) : [];
        return folders.some((f) => readdirSync(path.join(root, f)).some((n) => n.includes('.dump.partial-1')))
          ? true
          : undefined;
      });
      expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
      worker = await startWorkerProcess({ configFile: file, taskQueue });
      const backup = (await backupRun.result()) as CantonBackupResult;
      const folder = path.join(dir, 'backups', backup.backupId);
      expect(readdirSync(folder).filter((n) => n.includes('partial'))).toEqual([]);
      const dump = backup.manifest.files.find((f) => f.what === 'database participant-3')!;
      pg.sql('postgres', 'create database crash_check');
      execFileSync(
        path.join(pg.binDir, 'pg_restore'),
        ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'crash_check', dump.file],
        {
          env: { ...process.env, PGPASSWORD: pg.password },
        },
      );
      expect(checksum('crash_check')).toBe(original);
      const history = await backupRun.fetchHistory();
      const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
      expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);

      // ---- Kill during the restore.
      pg.sql('participant-3', 'delete from contracts where id > 100');
      const restoreRun = await startProcedure(temporal.client, {
        procedure: 'cantonRestore',
        network: 'crashy',
        taskQueue,
        input: { pollIntervalMs: 200, readinessTimeoutMs: 60_000 },
      });
      await waitFor('a restore in progress', async () =>
        pg.sql('postgres', "select count(*) from pg_database where datname like '%__restoring_%'") !== '0'
          ? true
          : undefined,
      );
      expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
      worker = await startWorkerProcess({ configFile: file, taskQueue });
      const restored = (await restoreRun.result()) as CantonRestoreResult;
      expect(checksum('participant-3')).toBe(original);
      expect(pg.sql('postgres', "select count(*) from pg_database where datname like '%__restoring_%'")).toBe('0');
      expect(checksum(`participant-3__before_${restored.restoreId}`)).toMatch(/^100:/);
      const restoreEvents = (await restoreRun.fetchHistory()).events ?? [];
      const restoreAttempts = restoreEvents.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
      expect(Math.max(...restoreAttempts)).toBeGreaterThanOrEqual(2);
    } finally {
      await worker.kill('SIGKILL');
    }
  }, 300_000);
});
