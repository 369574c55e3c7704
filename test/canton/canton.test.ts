/**
 * Canton/Splice validator backups on the real dev server, against a real PostgreSQL and the validator
 * simulator: streamed dumps that restore to identical data, a sealed owner-only identities dump, a manifest,
 * and retention that keeps the newest verified backup.
 */
import { execFileSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { appendFileSync, chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startProcedure } from '../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import type { CantonBackupResult } from '../../workflows/canton-backup';
import type { CantonReonboardResult } from '../../workflows/canton-reonboard';
import type { CantonRestoreResult } from '../../workflows/canton-restore';
import { statusQuery } from '../../contracts/status';
import { startTestValidator, writeCantonConfig } from '../helpers/canton';
import { loadSpliceApi } from '../helpers/splice-openapi';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  type TestTemporal,
} from '../helpers/temporal';

const PARTICIPANT = 'PAR::validator1::1220a1b2c3d4e5f6';

describe('canton-backup', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let sim: CantonValidatorSimulator;
  let dir: string;
  let backupKey: Buffer;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql(
      'validator',
      `create table users (name text primary key, onboarded_at timestamptz not null);
      insert into users select 'user' || i, now() - (i || ' days')::interval from generate_series(1, 40) i`,
    );
    pg.sql(
      'participant-3',
      `create table contracts (id bigint primary key, payload text not null);
      insert into contracts select i, md5(i::text) from generate_series(1, 20000) i`,
    );
    sim = await startTestValidator(pg, PARTICIPANT, 'LEDGER_DR_TEST_CANTON_TOKEN');
    dir = scratchDir('canton');
    const written = writeCantonConfig(dir, {
      network: 'splice',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_TEST_CANTON_TOKEN',
      retention: { keep: 2, maxAgeDays: 30 },
    });
    backupKey = written.backupKey;
    taskQueue = uniqueTaskQueue('canton');
    worker = await startTestWorker(temporal, taskQueue, { config: written.config });
  });
  afterAll(async () => {
    await worker?.stop();
    // Every request and answer of the file's tests, checked against Splice's own OpenAPI files.
    const problems = sim ? loadSpliceApi().validateAll(sim.exchanges) : [];
    await sim?.stop();
    await pg?.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  it('dumps both databases and the sealed identities, writes a manifest, and keeps the newest backups', async () => {
    const runs: CantonBackupResult[] = [];
    for (let i = 0; i < 3; i++) {
      const handle = await startProcedure(temporal.client, {
        procedure: 'cantonBackup',
        network: 'splice',
        taskQueue,
        input: {},
      });
      runs.push((await handle.result()) as CantonBackupResult);
    }
    const [first, , last] = runs;

    expect(last!.manifest).toMatchObject({
      format: 'ledger-dr/canton-backup/1',
      migrationId: 3,
      participantId: PARTICIPANT,
    });
    const files = Object.fromEntries(last!.manifest.files.map((f) => [f.what, f]));
    expect(Object.keys(files).sort()).toEqual([
      'database participant-3',
      'database validator',
      'node identities (sealed)',
    ]);
    for (const f of last!.manifest.files) expect(statSync(f.file).mode & 0o777).toBe(0o600);

    // The identities dump holds private keys: sealed on disk, and it opens with the configured key.
    const sealed = readFileSync(files['node identities (sealed)']!.file);
    expect(sealed.includes(Buffer.from(PARTICIPANT))).toBe(false);
    const iv = sealed.subarray(8, 20);
    const decipher = createDecipheriv('aes-256-gcm', backupKey, iv);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const dump = JSON.parse(
      Buffer.concat([decipher.update(sealed.subarray(20, sealed.length - 16)), decipher.final()]).toString(),
    ) as { id: string; keys: unknown[] };
    expect(dump.id).toBe(PARTICIPANT);
    expect(dump.keys.length).toBeGreaterThan(0);

    // The dumps restore to the same data.
    pg.sql('postgres', 'create database restore_check');
    execFileSync(
      path.join(pg.binDir, 'pg_restore'),
      [
        '-h',
        pg.host,
        '-p',
        String(pg.port),
        '-U',
        pg.user,
        '-d',
        'restore_check',
        files['database participant-3']!.file,
      ],
      {
        env: { ...process.env, PGPASSWORD: pg.password },
      },
    );
    const checksum = (db: string) =>
      pg.sql(db, "select count(*) || ':' || md5(string_agg(id::text || payload, ',' order by id)) from contracts");
    expect(checksum('restore_check')).toBe(checksum('participant-3'));

    // Retention keeps two; the first backup is gone, the newest (verified) is there.
    expect(last!.retention.deleted).toEqual([first!.backupId]);
    expect(last!.retention.kept).toEqual([last!.backupId, runs[1]!.backupId]);
    expect(() => statSync(path.join(dir, 'backups', first!.backupId))).toThrow();
    expect(last!.report.backups).toHaveLength(3);
  });

  it('restores both databases from the newest backup after a disaster, keeping the damaged ones renamed', async () => {
    const state = () => ({
      contracts: pg.sql(
        'participant-3',
        "select count(*) || ':' || md5(string_agg(id::text || payload, ',' order by id)) from contracts",
      ),
      users: pg.sql('validator', "select count(*) || ':' || md5(string_agg(name, ',' order by name)) from users"),
    });
    const backupRun = await startProcedure(temporal.client, {
      procedure: 'cantonBackup',
      network: 'splice',
      taskQueue,
      input: {},
    });
    const backup = (await backupRun.result()) as CantonBackupResult;
    const before = state();

    // The disaster: half the contracts lost, and a user onboarded after the backup.
    pg.sql('participant-3', 'delete from contracts where id % 2 = 0');
    pg.sql('validator', "insert into users values ('late-user', now())");
    const damaged = state();
    expect(damaged.contracts).not.toBe(before.contracts);

    const startsBefore = sim.starts;
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonRestore',
      network: 'splice',
      taskQueue,
      input: { pollIntervalMs: 200, readinessTimeoutMs: 60_000 },
    });
    const result = (await handle.result()) as CantonRestoreResult;

    expect(result.backup.backupId).toBe(backup.backupId);
    expect(state()).toEqual(before);
    // Nothing was dropped: the damaged databases are still there, renamed.
    expect(result.movedAside.sort()).toEqual([
      `participant-3__before_${result.restoreId}`,
      `validator__before_${result.restoreId}`,
    ]);
    expect(
      pg.sql(
        `participant-3__before_${result.restoreId}`,
        "select count(*) || ':' || md5(string_agg(id::text || payload, ',' order by id)) from contracts",
      ),
    ).toBe(damaged.contracts);
    expect(result.usersToReonboard.map((u) => u.name)).toEqual(['late-user']);
    expect(sim.isRunning).toBe(true);
    expect(sim.starts).toBe(startsBefore + 1);
    expect(result.report.steps.map((s) => `${s.name}:${s.outcome}`)).toEqual([
      'read-plan:succeeded',
      'verify-backup:succeeded',
      'users-before:succeeded',
      'scale-down:succeeded',
      'move-aside:succeeded',
      'restore:succeeded',
      'scale-up:succeeded',
      'users-after-backup:succeeded',
    ]);
  });

  it('refuses a backup whose checksum no longer matches, before touching the validator', async () => {
    const backup = (await (
      await startProcedure(temporal.client, { procedure: 'cantonBackup', network: 'splice', taskQueue, input: {} })
    ).result()) as CantonBackupResult;
    const dump = backup.manifest.files.find((f) => f.what === 'database validator')!;
    chmodSync(dump.file, 0o600);
    appendFileSync(dump.file, 'x');
    const stopsBefore = sim.stops;
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonRestore',
      network: 'splice',
      taskQueue,
      input: { backupId: backup.backupId },
    });
    await expect(handle.result()).rejects.toThrow();
    const status = await handle.query(statusQuery);
    expect(status.report.failure).toBe(
      `backup ${backup.backupId}: database validator (${dump.file}) does not match its SHA-256 in the manifest`,
    );
    expect(sim.stops).toBe(stopsBefore);
  });

  it('re-onboards a lost validator from its identities with a new participant id, refusing a used one first', async () => {
    await (
      await startProcedure(temporal.client, { procedure: 'cantonBackup', network: 'splice', taskQueue, input: {} })
    ).result();
    sim.loseNode();
    const startsBefore = sim.starts;

    const refused = await startProcedure(temporal.client, {
      procedure: 'cantonReonboard',
      network: 'splice',
      taskQueue,
      input: { participantId: 'validator1', pollIntervalMs: 200 },
    });
    await expect(refused.result()).rejects.toThrow();
    const refusal = await refused.query(statusQuery);
    expect(refusal.report.failure).toMatch(
      /^input\.participantId: "validator1" was used before on splice \(the participant of backup /,
    );
    expect(sim.starts).toBe(startsBefore);
    expect(sim.isRunning).toBe(false);
    expect(readdirSync(path.join(dir, 'backups')).filter((n) => n.startsWith('reonboard-'))).toEqual([]);

    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonReonboard',
      network: 'splice',
      taskQueue,
      input: { participantId: 'validator1-reonboarded-1', pollIntervalMs: 200, readinessTimeoutMs: 30_000 },
    });
    const result = (await handle.result()) as CantonReonboardResult;
    expect(result.party).toEqual({ balance: '1250.5000000000', nameEntries: ['validator1.unverified.cns'] });
    expect(sim.participantId).toBe('validator1-reonboarded-1');
    expect(sim.starts).toBe(startsBefore + 1);
    const registry = JSON.parse(readFileSync(path.join(dir, 'backups', 'participant-ids.json'), 'utf8')) as {
      current: string;
    };
    expect(registry.current).toBe('validator1-reonboarded-1');
    // The opened dump (private keys) is gone again.
    expect(readdirSync(path.join(dir, 'backups')).filter((n) => n.startsWith('reonboard-'))).toEqual([]);
    expect(result.report.notes).toContain(
      'every later restart of this validator must pass -P validator1-reonboarded-1',
    );

    // The id is now used: a second re-onboarding with it is refused.
    const again = await startProcedure(temporal.client, {
      procedure: 'cantonReonboard',
      network: 'splice',
      taskQueue,
      input: { participantId: 'validator1-reonboarded-1' },
    });
    await expect(again.result()).rejects.toThrow();
    expect((await again.query(statusQuery)).report.failure).toContain('(recorded ');
  });
});
