/**
 * Splice as upstream specifies it (test/reference/splice: the validator's OpenAPI files of main and v0.4.15;
 * guides/splice-validator-*-0.7.rst), each fact checked on both sides: the simulator answers as upstream's
 * schemas say, and our client calls upstream's paths and handles upstream's answers. Every exchange of this
 * file is checked against the OpenAPI files at the end.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import { lsuScript } from '../../activities/canton/lsu';
import { startProcedure } from '../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import type { CantonBackupResult } from '../../workflows/canton-backup';
import type { CantonLsuRecoveryResult } from '../../workflows/canton-lsu-recovery';
import type { CantonRestoreResult } from '../../workflows/canton-restore';
import { networkRecoveryFor } from '../../workflows/lib/canton';
import { lsuParametersUpdate } from '../../contracts/updates';
import { statusQuery } from '../../contracts/status';
import { startTestValidator, writeCantonConfig } from '../helpers/canton';
import { PROJECT_ROOT } from '../helpers/paths';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { loadSpliceApi, SPLICE_PREFIX } from '../helpers/splice-openapi';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  type TestTemporal,
} from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const FAST = { pollIntervalMs: 200, readinessTimeoutMs: 30_000 };
const PSID_OLD = 'global-domain::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a::34-0';
const PSID_NEW = 'global-domain::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a::34-1';
const LSU = {
  newPhysicalSynchronizerId: PSID_NEW,
  sequencerSuccessors: [
    { sequencerId: `SEQ::sv1::1220${'cd'.repeat(32)}`, host: 'sequencer-1.sv-1.global.example.com', port: 443 },
  ],
};

describe('Splice conformance', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  const sims: CantonValidatorSimulator[] = [];

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    // The validators of this file share one node's databases (the simulator's users live in `validator`).
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql(
      'validator',
      "create table users (name text primary key, onboarded_at timestamptz not null); insert into users values ('alice', now()), ('bob', now())",
    );
    pg.sql('participant-3', 'create table contracts (id bigint primary key); insert into contracts values (1)');
  });
  afterAll(async () => {
    const problems = loadSpliceApi().validateAll(sims.flatMap((s) => s.exchanges));
    await Promise.all(sims.map((s) => s.stop()));
    await pg?.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  /** A validator of `release` with its own databases (migration 3) and a configuration pointing at it. */
  async function validator(
    name: string,
    options: { release?: string; configured?: string; catchingUpUntil?: number; nameEntries?: string[] } = {},
  ) {
    const tokenEnv = `LEDGER_DR_SPLICE_${name.toUpperCase().replace(/-/g, '_')}`;
    const sim = await startTestValidator(pg, `PAR::${name}::1220ab`, tokenEnv, {
      release: options.release,
      catchingUpUntil: options.catchingUpUntil,
      nameEntries: options.nameEntries,
    });
    sims.push(sim);
    const dir = scratchDir(`splice-${name}`);
    const written = writeCantonConfig(dir, { network: name, pg, sim, tokenEnv, release: options.configured });
    const taskQueue = uniqueTaskQueue(`splice-${name}`);
    const worker = await startTestWorker(temporal, taskQueue, { config: written.config });
    return {
      sim,
      dir,
      taskQueue,
      worker,
      config: written.config,
      activities: createActivities({ config: written.config }),
    };
  }

  it('client: every validator path in activities/canton exists upstream under /api/validator', () => {
    const api = loadSpliceApi();
    const sources = readdirSync(path.join(PROJECT_ROOT, 'activities', 'canton')).map((f) =>
      readFileSync(path.join(PROJECT_ROOT, 'activities', 'canton', f), 'utf8'),
    );
    const paths = [
      ...new Set(sources.flatMap((s) => [...s.matchAll(/['`](\/api\/validator\/[^'`?$]+)['`]/g)].map((m) => m[1]!))),
    ];
    expect(paths.length).toBeGreaterThanOrEqual(6);
    expect(paths.filter((p) => !api.operationOf('GET', p))).toEqual([]);
    expect(api.operationOf('GET', `${SPLICE_PREFIX}/v0/entry/all`)).toBe('listAnsEntries (main (0.7.5))');
    // What the old client called: no such operation upstream.
    expect(api.operationOf('GET', `${SPLICE_PREFIX}/v0/wallet/ans-entries`)).toBeUndefined();
  });

  it('users: ListUsersResponse has usernames only; the backup records them and the restore compares', async () => {
    const v = await validator('users');
    try {
      expect(await v.activities.listCantonUsers({ network: 'users' })).toEqual([{ name: 'alice' }, { name: 'bob' }]);
      const users = v.sim.exchanges.find((e) => e.path === '/api/validator/v0/admin/users');
      expect(users?.responseBody).toEqual({ usernames: ['alice', 'bob'] });

      const backup = (await (
        await startProcedure(temporal.client, {
          procedure: 'cantonBackup',
          network: 'users',
          taskQueue: v.taskQueue,
          input: {},
        })
      ).result()) as CantonBackupResult;
      expect(backup.manifest.users).toEqual(['alice', 'bob']);

      pg.sql('validator', "insert into users values ('carol', now())");
      const restore = (await (
        await startProcedure(temporal.client, {
          procedure: 'cantonRestore',
          network: 'users',
          taskQueue: v.taskQueue,
          input: FAST,
        })
      ).result()) as CantonRestoreResult;
      expect(restore.usersToReonboard).toEqual([{ name: 'carol' }]);
    } finally {
      await v.worker.stop();
    }
  });

  it('restore: a backup 30 days old or more is refused with the reason, and restored when forced', async () => {
    const v = await validator('old-backup');
    try {
      const backup = (await (
        await startProcedure(temporal.client, {
          procedure: 'cantonBackup',
          network: 'old-backup',
          taskQueue: v.taskQueue,
          input: {},
        })
      ).result()) as CantonBackupResult;
      // The manifest says when the backup was taken; make it 40 days ago.
      const manifestFile = path.join(v.dir, 'backups', backup.backupId, 'MANIFEST.json');
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { createdAt: string };
      manifest.createdAt = new Date(Date.now() - 40 * 86_400_000).toISOString();
      writeFileSync(manifestFile, JSON.stringify(manifest));
      const stopsBefore = v.sim.stops;

      const refused = await (
        await startProcedure(temporal.client, {
          procedure: 'cantonRestore',
          network: 'old-backup',
          taskQueue: v.taskQueue,
          input: FAST,
        })
      )
        .result()
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WorkflowFailedError);
      const cause = (refused as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('BackupTooOld');
      expect(cause.message).toMatch(
        /is 40 days old; Splice restores only backups under 30 days old.*cantonReonboard.*force: true/,
      );
      expect(v.sim.stops).toBe(stopsBefore); // refused before the validator was touched

      const forced = (await (
        await startProcedure(temporal.client, {
          procedure: 'cantonRestore',
          network: 'old-backup',
          taskQueue: v.taskQueue,
          input: { ...FAST, force: true },
        })
      ).result()) as CantonRestoreResult;
      expect(forced.report.decisions.map((d) => d.decision)).toContain('restore it anyway');
    } finally {
      await v.worker.stop();
    }
  });

  it("name entries: upstream's /v0/entry/all, and a party with none is no failure", async () => {
    const v = await validator('no-names', { nameEntries: [] });
    const named = await validator('names');
    try {
      expect(await v.activities.checkCantonParty({ network: 'no-names' })).toEqual({
        balance: '1250.5000000000',
        nameEntries: [],
      });
      expect(await named.activities.checkCantonParty({ network: 'names' })).toEqual({
        balance: '1250.5000000000',
        nameEntries: ['validator1.unverified.cns'],
      });
    } finally {
      await v.worker.stop();
      await named.worker.stop();
    }
  });

  it('data snapshot: upstream shape, migration_id sent and cross-checked; a mismatch stops before anything is installed', async () => {
    const v = await validator('migration');
    try {
      // Our registry says migration 3; the validator has moved on to 5 without us knowing.
      v.sim.migrationId = 5;
      const handle = await startProcedure(temporal.client, {
        procedure: 'cantonNetworkRecovery',
        network: 'migration',
        taskQueue: v.taskQueue,
        input: { ...FAST, timestamp: '2026-11-20T10:00:00Z', healthWindowMs: 0 },
      });
      await waitFor('health approval awaited', async () =>
        (await handle.query(statusQuery)).awaiting.length > 0 ? true : undefined,
      );
      await handle.executeUpdate('approve', { args: [{ actor: 'olga' }] });
      const err = await handle.result().catch((e: unknown) => e);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('MigrationIdMismatch');
      expect(cause.message).toContain('is of migration 5, but ledger-dr has the validator at migration 3');
      const request = v.sim.exchanges.find((e) => e.path.endsWith('/data-snapshot') && e.status === 200)!;
      expect(request.query).toEqual({ timestamp: '2026-11-20T10:00:00Z', force: 'true', migration_id: '3' });
      expect(v.sim.dumpsConsumed).toEqual([]);
      expect(v.sim.stops).toBe(0);
      // Both the response and the extracted dump are kept for the operator.
      const folder = path.join(v.dir, 'backups', 'data-snapshots');
      const [work] = readdirSync(folder);
      expect(readdirSync(path.join(folder, work!)).sort()).toEqual([
        'domain_migration_dump.json',
        'dump_response.json',
      ]);
    } finally {
      await v.worker.stop();
    }
  });

  it("releases: each network-recovery procedure refuses the other's releases, naming the release and the right one", async () => {
    expect(networkRecoveryFor('0.4.15').workflowType).toBe('cantonNetworkRecovery');
    expect(networkRecoveryFor('0.6.1').workflowType).toBe('cantonNetworkRecovery');
    expect(networkRecoveryFor('0.6.2').workflowType).toBe('cantonLsuRecovery');
    expect(networkRecoveryFor('0.7.4').workflowType).toBe('cantonLsuRecovery');
    const current = await validator('current', { release: '0.7.4' });
    const old = await validator('old', { release: '0.4.15', configured: '0.4.15' });
    try {
      // The release is read from the validator's /version when not configured.
      expect(await current.activities.readCantonRelease({ network: 'current' })).toMatchObject({ release: '0.7.4' });
      const refused = async (
        procedure: 'cantonNetworkRecovery' | 'cantonLsuRecovery',
        network: string,
        taskQueue: string,
      ) => {
        const h = await startProcedure(temporal.client, {
          procedure,
          network,
          taskQueue,
          input: { ...FAST, timestamp: '2026-11-20T10:00:00Z' } as object,
        });
        const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
        return err.cause as ApplicationFailure;
      };
      const snapshotOnCurrent = await refused('cantonNetworkRecovery', 'current', current.taskQueue);
      expect(snapshotOnCurrent.type).toBe('WrongProcedure');
      expect(snapshotOnCurrent.message).toMatch(
        /^Splice 0\.7\.4 recovers by a roll-forward Logical Synchronizer Upgrade .*start canton-lsu-recovery for current instead/,
      );
      // And the endpoint itself is gone on that release, as upstream removed it.
      expect(current.sim.servesDataSnapshot).toBe(false);
      const lsuOnOld = await (async () => {
        const h = await startProcedure(temporal.client, {
          procedure: 'cantonLsuRecovery',
          network: 'old',
          taskQueue: old.taskQueue,
          input: { ...FAST, parameters: LSU },
        });
        return ((await h.result().catch((e: unknown) => e)) as WorkflowFailedError).cause as ApplicationFailure;
      })();
      expect(lsuOnOld.type).toBe('WrongProcedure');
      expect(lsuOnOld.message).toMatch(
        /^Splice 0\.4\.15 recovers from a data snapshot .*start canton-network-recovery for old instead/,
      );
    } finally {
      await current.worker.stop();
      await old.worker.stop();
    }
  });

  it("roll-forward LSU: waits for the SVs' parameters and the catch-up, runs perform_manual_lsu once, checks health", async () => {
    const v = await validator('lsu', { release: '0.7.4', catchingUpUntil: Date.now() + 3000 });
    try {
      const handle = await startProcedure(temporal.client, {
        procedure: 'cantonLsuRecovery',
        network: 'lsu',
        taskQueue: v.taskQueue,
        input: { ...FAST, quietPeriodMs: 1000 },
      });
      await waitFor('parameters awaited', async () =>
        (await handle.query(statusQuery)).awaiting.some((a) => a.what.startsWith('the successor physical synchronizer'))
          ? true
          : undefined,
      );
      await expect(
        handle.executeUpdate(lsuParametersUpdate, {
          args: [{ actor: 'sv-liaison', ...LSU, sequencerSuccessors: [] }],
        }),
      ).rejects.toMatchObject({
        cause: { message: expect.stringContaining('sequencerSuccessors: expected at least one') as unknown },
      });
      await handle.executeUpdate(lsuParametersUpdate, { args: [{ actor: 'sv-liaison', ...LSU }] });
      const result = (await handle.result()) as CantonLsuRecoveryResult;

      expect(result.lsu).toEqual({ action: 'performed', connected: true });
      expect(v.sim.physicalSynchronizerId).toBe(PSID_NEW);
      expect(v.sim.lsuPerformed).toEqual([
        {
          from: PSID_OLD,
          to: PSID_NEW,
          sequencerSuccessors: [
            { uid: `sv1::1220${'cd'.repeat(32)}`, host: 'sequencer-1.sv-1.global.example.com', port: 443, tls: true },
          ],
        },
      ]);
      // It waited for the participant to stop processing events of the old synchronizer.
      expect(result.catchUp).toMatch(/without a new one$/);
      expect(result.report.steps.map((s) => s.name)).toEqual([
        'read-plan',
        'lsu-parameters',
        'catch-up',
        'perform-lsu',
        'health-after',
      ]);
      expect(result.report.operatorActions.map((a) => a.actor)).toEqual(['sv-liaison']);
      expect(result.report.notes.join('\n')).toContain('ACS commitment mismatches');

      // Retried after it happened, the console script changes nothing.
      expect(await v.activities.performCantonLsu({ network: 'lsu', ...LSU })).toEqual({
        action: 'already-connected',
        connected: true,
      });
      expect(v.sim.lsuPerformed).toHaveLength(1);
    } finally {
      await v.worker.stop();
    }
  });

  it("the console script is the guide's, with the SVs' values as Scala literals", () => {
    const script = lsuScript(LSU, 'participant', 'global');
    expect(script).toContain(
      'participant.synchronizers.list_connected().find(_.synchronizerAlias == "global").head.physicalSynchronizerId',
    );
    expect(script).toContain(`PhysicalSynchronizerId.tryFromString("${PSID_NEW}")`);
    expect(script).toMatch(
      /perform_manual_lsu\(\n\s+existingPhysicalSynchronizerId,\n\s+successorPsid,\n\s+upgradeTime = None,\n\s+Map\(/,
    );
    expect(script).toContain(`SequencerId(UniqueIdentifier.tryFromProtoPrimitive("sv1::1220${'cd'.repeat(32)}"))`);
  });
});
