/**
 * Canton/Splice network recovery from a data snapshot on the real dev server, against a real PostgreSQL and
 * the validator simulator: 429s asked again until the snapshot comes, the dump extracted byte for byte and
 * consumed by the app at the next migration id; a 400 leads, only after an approval, to re-onboarding.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { startProcedure } from '../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import type { CantonBackupResult } from '../../workflows/canton-backup';
import type { CantonNetworkRecoveryResult } from '../../workflows/canton-network-recovery';
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
import { waitFor } from '../helpers/wait';

const FAST = { pollIntervalMs: 200, readinessTimeoutMs: 30_000, snapshotRetryIntervalMs: 300 };

describe('canton-network-recovery', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let sim: CantonValidatorSimulator;
  let dir: string;
  let volume: string;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql(
      'validator',
      "create table users (name text primary key, onboarded_at timestamptz not null); insert into users values ('alice', now())",
    );
    pg.sql('participant-3', 'create table contracts (id bigint primary key); insert into contracts values (1)');
    dir = scratchDir('canton-network-recovery');
    volume = path.join(dir, 'domain-upgrade-dump');
    sim = await startTestValidator(pg, 'PAR::validator1::1220aa', 'LEDGER_DR_TEST_CANTON_NR_TOKEN', {
      dumpVolume: volume,
    });
    // Two networks over the same validator, each with its own backups and registry.
    const configs = ['migrate', 'fallback'].map((network) =>
      writeCantonConfig(path.join(dir, network), {
        network,
        pg,
        sim,
        tokenEnv: 'LEDGER_DR_TEST_CANTON_NR_TOKEN',
        dumpVolume: volume,
      }),
    );
    const config = {
      ...configs[0]!.config,
      networks: { ...configs[0]!.config.networks, ...configs[1]!.config.networks },
    };
    taskQueue = uniqueTaskQueue('canton-nr');
    worker = await startTestWorker(temporal, taskQueue, { config });
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

  it('asks again after 429s, installs the extracted snapshot and restarts on the next migration id', async () => {
    mkdirSync(volume, { recursive: true });
    sim.snapshot = { bytes: 3 * 1024 * 1024, notCaughtUp: 2, pruned: false };
    const timestamp = new Date(Date.now() - 60_000).toISOString();
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonNetworkRecovery',
      network: 'migrate',
      taskQueue,
      input: { timestamp, ...FAST },
    });
    // No backup near the timestamp: an operator must confirm the participant was healthy then.
    await waitFor('the health confirmation to be awaited', async () => {
      const status = await handle.query(statusQuery);
      return status.awaiting.some((a) => a.what.startsWith('confirmation')) ? true : undefined;
    });
    expect(sim.snapshotRequests).toEqual([]);
    await handle.executeUpdate('approve', { args: [{ actor: 'olga', comment: 'dashboards were green' }] });
    const result = (await handle.result()) as CantonNetworkRecoveryResult;

    expect(result.outcome).toBe('migrated');
    expect(sim.snapshotRequests.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(result.snapshotRequests).toBe(3);
    // The dump on disk is data_snapshot exactly as the validator serialised it, and the app consumed it.
    const served = sim.snapshotsServed.at(-1)!;
    expect(result.migrationDump!.sha256).toBe(served.sha256);
    expect(result.migrationDump!.bytes).toBe(served.bytes);
    expect(sim.dumpsConsumed).toEqual([{ migrationId: 4, sha256: served.sha256 }]);
    expect(sim.migrationId).toBe(4);
    expect(sim.isRunning).toBe(true);
    const dump = JSON.parse(readFileSync(result.migrationDump!.file, 'utf8')) as Record<string, unknown>;
    // Upstream's DomainMigrationDump (v0.4.15 validator-internal.yaml), every required field.
    expect(Object.keys(dump)).toEqual([
      'participant',
      'participant_users',
      'acs_snapshot',
      'acs_timestamp',
      'dars',
      'migration_id',
      'domain_id',
      'created_at',
    ]);
    // It holds the participant's keys: owner-only, and the raw response it came from is gone.
    expect(statSync(result.migrationDump!.file).mode & 0o777).toBe(0o600);
    expect(readdirSync(path.dirname(result.migrationDump!.file))).toEqual(['domain_migration_dump.json']);
    const registry = JSON.parse(readFileSync(path.join(dir, 'migrate', 'backups', 'participant-ids.json'), 'utf8'));
    expect(registry.migration.migrationId).toBe(4);
    expect(result.report.operatorActions.map((a) => a.actor)).toEqual(['olga']);
    expect(result.report.steps.map((s) => s.name)).toEqual([
      'read-plan',
      'agreed-timestamp',
      'health-around-timestamp',
      'request-snapshot',
      'extract',
      'stop',
      'install-dump',
      'start-next-migration',
      'record-migration-id',
    ]);
  });

  it('on a 400, waits for an approval and a participant id, then re-onboards instead', async () => {
    // A backup near the timestamp: evidence of health, and the identities the re-onboarding needs.
    const backup = await startProcedure(temporal.client, {
      procedure: 'cantonBackup',
      network: 'fallback',
      taskQueue,
      input: {},
    });
    const { manifest } = (await backup.result()) as CantonBackupResult;
    sim.snapshot = { bytes: 1024, notCaughtUp: 0, pruned: true };
    const requestsBefore = sim.snapshotRequests.length;
    const stopsBefore = sim.stops;
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonNetworkRecovery',
      network: 'fallback',
      taskQueue,
      input: FAST,
    });
    // No timestamp in the input: it is given by an update.
    await waitFor('the timestamp to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.some((a) => a.what.includes('agreed')) ? true : undefined,
    );
    await expect(
      handle.executeUpdate('agreeTimestamp', { args: [{ actor: 'olga', timestamp: 'yesterday' }] }),
    ).rejects.toThrow(WorkflowUpdateFailedError);
    await handle.executeUpdate('agreeTimestamp', { args: [{ actor: 'olga', timestamp: manifest.createdAt }] });
    await waitFor('the re-onboarding approval to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.some((a) => a.what.includes('re-onboard')) ? true : undefined,
    );
    // Nothing changed while it waits, and an approval without a participant id is refused.
    expect(sim.snapshotRequests.slice(requestsBefore).map((r) => r.status)).toEqual([400]);
    expect(sim.stops).toBe(stopsBefore);
    const refused = await handle.executeUpdate('approve', { args: [{ actor: 'petra' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((refused as WorkflowUpdateFailedError).cause as Error).message).toMatch(/^participantId: required/);
    // A participant id used before (the backed-up participant's) is refused, and nothing changes.
    await handle.executeUpdate('approve', { args: [{ actor: 'petra', participantId: 'validator1' }] });
    await waitFor('the refusal and a new approval to be awaited', async () => {
      const status = await handle.query(statusQuery);
      return status.report.notes.some((n) => n.includes('"validator1" was used before')) &&
        status.awaiting.some((a) => a.what.includes('re-onboard'))
        ? true
        : undefined;
    });
    expect(sim.stops).toBe(stopsBefore);
    await handle.executeUpdate('approve', { args: [{ actor: 'petra', participantId: 'validator1-after-dr' }] });
    const result = (await handle.result()) as CantonNetworkRecoveryResult;

    expect(result.outcome).toBe('reonboarded');
    expect(result.reonboard).toMatchObject({ participantId: 'validator1-after-dr', backupId: manifest.backupId });
    expect(result.reonboard!.party.nameEntries.length).toBeGreaterThan(0);
    expect(sim.participantId).toBe('validator1-after-dr');
    expect(sim.migrationId).toBe(4);
    expect(result.report.decisions.map((d) => d.decision)).toContain(
      're-onboard the validator from its identities backup',
    );
    const registry = JSON.parse(readFileSync(path.join(dir, 'fallback', 'backups', 'participant-ids.json'), 'utf8'));
    expect(registry).toMatchObject({ current: 'validator1-after-dr', migration: { migrationId: 4 } });
    expect(existsSync(path.join(dir, 'fallback', 'backups', manifest.backupId, 'MANIFEST.json'))).toBe(true);
  });

  it('proposes re-onboarding when the participant has not caught up by the deadline', async () => {
    sim.snapshot = { bytes: 1024, notCaughtUp: 1000, pruned: false };
    const requestsBefore = sim.snapshotRequests.length;
    const stopsBefore = sim.stops;
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonNetworkRecovery',
      network: 'migrate',
      taskQueue,
      input: { ...FAST, timestamp: new Date().toISOString(), snapshotDeadlineMs: 1500 },
    });
    await waitFor('the health confirmation to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.length > 0 ? true : undefined,
    );
    await handle.executeUpdate('approve', { args: [{ actor: 'olga' }] });
    await waitFor('the re-onboarding approval to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.some((a) => a.what.includes('re-onboard')) ? true : undefined,
    );
    const requests = sim.snapshotRequests.slice(requestsBefore).map((r) => r.status);
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(new Set(requests)).toEqual(new Set([429]));
    const status = await handle.query(statusQuery);
    expect(status.report.decisions.at(-1)!.reason).toMatch(/had not caught up .* by the deadline/);
    // Nothing was touched while it waits; an operator who does not approve cancels.
    expect(sim.stops).toBe(stopsBefore);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(sim.isRunning).toBe(true);
  });

  it('sets a cut-off response aside and asks again', async () => {
    sim.snapshot = { bytes: 256 * 1024, notCaughtUp: 0, pruned: false, truncated: 1 };
    const servedBefore = sim.snapshotsServed.length;
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonNetworkRecovery',
      network: 'fallback',
      taskQueue,
      input: { ...FAST, timestamp: new Date().toISOString() },
    });
    const result = (await handle.result()) as CantonNetworkRecoveryResult;
    expect(result.outcome).toBe('migrated');
    expect(result.migrationDump!.sha256).toBe(sim.snapshotsServed.at(-1)!.sha256);
    expect(sim.snapshotsServed.length).toBe(servedBefore + 1);
    expect(result.report.notes.some((n) => /is not valid JSON .*kept as .*corrupt-/.test(n))).toBe(true);
    // The cut-off response is kept for inspection, beside the dump that was installed.
    const kept = readdirSync(path.dirname(result.migrationDump!.file));
    expect(kept.filter((n) => n.startsWith('dump_response.json.corrupt-'))).toHaveLength(1);
  });

  it('fails at once on a bad timestamp, before anything runs', async () => {
    const handle = await startProcedure(temporal.client, {
      procedure: 'cantonNetworkRecovery',
      network: 'migrate',
      taskQueue,
      input: { timestamp: '2024-04-17 19:12' },
    });
    await expect(handle.result()).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/^input\.timestamp: expected the agreed timestamp in UTC/) },
    });
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
  });
});
