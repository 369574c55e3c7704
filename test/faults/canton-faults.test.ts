/**
 * Fault matrix, Canton rows not covered elsewhere: the validator down during a backup, and a refused admin
 * token. (429, 400 and a cut-off snapshot are rows of test/canton/canton-network-recovery.test.ts; a tampered
 * dump is a row of test/canton/canton.test.ts.)
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startProcedure } from '../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import type { CantonBackupResult } from '../../workflows/canton-backup';
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

describe('fault matrix: Canton', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let sim: CantonValidatorSimulator;
  let dir: string;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql('validator', 'create table users (name text primary key, onboarded_at timestamptz not null)');
    sim = await startTestValidator(pg, 'PAR::faults::1220dd', 'LEDGER_DR_FAULTS_TOKEN');
    process.env.LEDGER_DR_FAULTS_BAD_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.e30.not-a-signature';
    dir = scratchDir('canton-faults');
    const good = writeCantonConfig(path.join(dir, 'good'), {
      network: 'good',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_FAULTS_TOKEN',
    });
    const bad = writeCantonConfig(path.join(dir, 'bad'), {
      network: 'bad-token',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_FAULTS_BAD_TOKEN',
    });
    taskQueue = uniqueTaskQueue('canton-faults');
    worker = await startTestWorker(temporal, taskQueue, {
      config: { ...good.config, networks: { ...good.config.networks, ...bad.config.networks } },
    });
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

  it('validator down during a backup → the identities fetch is retried, then succeeds when it is back', async () => {
    sim.bringDown();
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonBackup',
      network: 'good',
      taskQueue,
      input: {},
    });
    // Let a few attempts fail against the stopped app, then bring it back.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await handle.query(statusQuery)).phase).toBe('dump');
    sim.bringUp();
    const result = (await handle.result()) as CantonBackupResult;
    expect(result.manifest.participantId).toBe('PAR::faults::1220dd');
    const attempts = ((await handle.fetchHistory()).events ?? []).map(
      (e) => e.activityTaskStartedEventAttributes?.attempt ?? 0,
    );
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
  });

  it('admin token refused → fails at once, naming the setting; no backup looks complete', async () => {
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonBackup',
      network: 'bad-token',
      taskQueue,
      input: {},
    });
    await expect(handle.result()).rejects.toThrow();
    const status = await handle.query(statusQuery);
    expect(status.report.failure).toBe(
      'validator admin API refused the token (HTTP 401); check networks.bad-token.canton.auth.token and its audience https://validator.example.com/api',
    );
    const root = path.join(dir, 'bad', 'backups');
    const folders = existsSync(root) ? readdirSync(root) : [];
    for (const f of folders) expect(existsSync(path.join(root, f, 'MANIFEST.json'))).toBe(false);
    const attempts = ((await handle.fetchHistory()).events ?? []).map(
      (e) => e.activityTaskStartedEventAttributes?.attempt ?? 0,
    );
    expect(Math.max(...attempts)).toBe(1);
  });
});
