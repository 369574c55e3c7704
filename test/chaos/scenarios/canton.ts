/**
 * Canton/Splice under chaos: backups, restores after a disaster, re-onboarding from the identities, and network
 * recovery from a data snapshot. Each slot is a validator (the simulator) with its own PostgreSQL cluster, since
 * Splice's database names are fixed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startProcedure } from '../../../shared/start-procedure';
import type { CantonValidatorSimulator } from '../../../simulators/canton/validator';
import type { CantonBackupResult } from '../../../workflows/canton-backup';
import type { CantonLsuRecoveryResult } from '../../../workflows/canton-lsu-recovery';
import type { CantonNetworkRecoveryResult } from '../../../workflows/canton-network-recovery';
import type { CantonReonboardResult } from '../../../workflows/canton-reonboard';
import type { CantonRestoreResult } from '../../../workflows/canton-restore';
import { statusQuery } from '../../../contracts/status';
import { cantonNetworkConfig, startTestValidator } from '../../helpers/canton';
import { startTestPostgres, type TestPostgres } from '../../helpers/postgres';
import { loadSpliceApi } from '../../helpers/splice-openapi';
import { resultOf, retryTransient, sleep, type ChaosScenario, type RunContext } from '../harness';
import { checkManifestFiles, leftoverPartials } from '../invariants';

interface Validator {
  network: string;
  pg: TestPostgres;
  sim: CantonValidatorSimulator;
  dir: string;
  volume: string;
}

const FAST = { pollIntervalMs: 200, readinessTimeoutMs: 300_000 };

/** The validator's data as the operator would check it: row counts and checksums of both databases. */
function dataOf(v: Validator, participant = 'participant-3') {
  return {
    contracts: v.pg.sql(
      participant,
      "select count(*) || ':' || md5(string_agg(id::text || payload, ',' order by id)) from contracts",
    ),
    users: v.pg.sql('validator', "select count(*) || ':' || md5(string_agg(name, ',' order by name)) from users"),
  };
}

/**
 * Shared by the Canton scenarios: `slots` validators (of Splice `release`), each with its own PostgreSQL
 * cluster. Every request a run makes of its validator must be one of Splice's OpenAPI operations.
 */
function cantonScenario(
  procedure: string,
  slots: number,
  run: (v: Validator, index: number, context: RunContext) => Promise<string[]>,
  release?: string,
): ChaosScenario {
  const splice = loadSpliceApi();
  const validators: Validator[] = [];
  return {
    procedure,
    slots,
    async setup({ dir }) {
      const networks: Record<string, object> = {};
      for (let s = 0; s < slots; s++) {
        const pg = await startTestPostgres();
        pg.sql('postgres', 'create database validator');
        pg.sql('postgres', 'create database "participant-3"');
        pg.sql(
          'validator',
          "create table users (name text primary key, onboarded_at timestamptz not null); insert into users values ('alice', now() - interval '1 day')",
        );
        pg.sql(
          'participant-3',
          'create table contracts (id bigint primary key, payload text not null); insert into contracts select i, md5(i::text) from generate_series(1, 20000) i',
        );
        const network = `chaos-${procedure.replace('canton-', '')}-${s}`;
        const volume = path.join(dir, network, 'domain-upgrade-dump');
        mkdirSync(volume, { recursive: true });
        const tokenEnv = `LEDGER_DR_CHAOS_TOKEN_${procedure.replace(/-/g, '_').toUpperCase()}_${s}`;
        const sim = await startTestValidator(pg, `PAR::${network}::1220aa`, tokenEnv, { dumpVolume: volume, release });
        networks[network] = cantonNetworkConfig(path.join(dir, network), {
          network,
          pg,
          sim,
          tokenEnv,
          dumpVolume: volume,
          // Nothing may be deleted during chaos, so nothing ages out either.
          retention: { keep: 10_000, maxAgeDays: 3650 },
        }).network;
        validators.push({ network, pg, sim, dir: path.join(dir, network), volume });
      }
      return networks;
    },
    async run(slot, index, context) {
      const v = validators[slot]!;
      const from = v.sim.exchanges.length;
      const problems = await run(v, index, context);
      const offSpec = splice.validateAll(v.sim.exchanges.slice(from));
      return [...problems, ...offSpec.map((p) => `not Splice's API: ${p.exchange}: ${p.problem}`)];
    },
    async teardown() {
      for (const v of validators) {
        await v.sim.stop();
        await v.pg.stop();
      }
    },
  };
}

async function backup(v: Validator, { client, taskQueue }: RunContext): Promise<CantonBackupResult> {
  const handle = await startProcedure(client, {
    procedure: 'cantonBackup',
    network: v.network,
    taskQueue,
    input: {},
  });
  return resultOf<CantonBackupResult>(handle);
}

/** Every backup of the validator still verifies against its manifest, and no partial file is left. */
function checkBackups(v: Validator): string[] {
  const root = path.join(v.dir, 'backups');
  const problems = leftoverPartials(root).map((f) => `partial file left: ${f}`);
  for (const id of readdirSync(root).filter((n) => statSync(path.join(root, n)).isDirectory())) {
    const manifest = path.join(root, id, 'MANIFEST.json');
    if (!existsSync(manifest)) {
      problems.push(`backup folder ${id} has no manifest`);
      continue;
    }
    problems.push(
      ...checkManifestFiles((JSON.parse(readFileSync(manifest, 'utf8')) as CantonBackupResult['manifest']).files),
    );
  }
  return problems;
}

export function cantonBackupScenario(): ChaosScenario {
  return cantonScenario('canton-backup', 3, async (v, index, context) => {
    const before = dataOf(v);
    const result = await backup(v, context);
    const problems: string[] = [];
    if (result.report.outcome !== 'succeeded') problems.push(`outcome ${result.report.outcome}`);
    const whats = result.manifest.files.map((f) => f.what).sort();
    if (whats.join() !== 'database participant-3,database validator,node identities (sealed)')
      problems.push(`the backup holds ${whats.join(', ')}`);
    problems.push(...checkBackups(v));
    // The dump restores to exactly what the database held.
    const dump = result.manifest.files.find((f) => f.what === 'database participant-3');
    if (dump) {
      const check = `check_${index}`;
      v.pg.sql('postgres', `create database ${check}`);
      execFileSync(
        path.join(v.pg.binDir, 'pg_restore'),
        ['-h', v.pg.host, '-p', String(v.pg.port), '-U', v.pg.user, '-d', check, dump.file],
        {
          env: { ...process.env, PGPASSWORD: v.pg.password },
        },
      );
      const restored = dataOf(v, check).contracts;
      if (restored !== before.contracts)
        problems.push(`the participant dump restores to ${restored}, not ${before.contracts}`);
      v.pg.sql('postgres', `drop database ${check}`);
    }
    return problems;
  });
}

export function cantonRestoreScenario(): ChaosScenario {
  return cantonScenario('canton-restore', 3, async (v, index, context) => {
    const backupResult = await backup(v, context);
    const before = dataOf(v);
    // The disaster: contracts lost, and a user onboarded after the backup.
    v.pg.sql('participant-3', `delete from contracts where id % 3 = ${index % 3}`);
    v.pg.sql('validator', `insert into users values ('late-user-${index}', now())`);
    const damaged = dataOf(v);
    const startsBefore = v.sim.starts;
    const handle = await startProcedure(context.client, {
      procedure: 'cantonRestore',
      network: v.network,
      taskQueue: context.taskQueue,
      input: { ...FAST, backupId: backupResult.backupId },
    });
    const result = await resultOf<CantonRestoreResult>(handle);
    const problems: string[] = [];
    const after = dataOf(v);
    if (after.contracts !== before.contracts || after.users !== before.users)
      problems.push(`restored data ${JSON.stringify(after)} differs from the backup's ${JSON.stringify(before)}`);
    // The damaged databases were moved aside, not dropped.
    for (const db of result.movedAside) {
      const exists = v.pg.sql('postgres', `select count(*) from pg_database where datname = '${db}'`) === '1';
      if (!exists) problems.push(`${db} was not kept`);
    }
    const aside = result.movedAside.find((d) => d.startsWith('participant-3__before_'));
    if (!aside || dataOf(v, aside).contracts !== damaged.contracts)
      problems.push('the participant database moved aside is not the damaged one');
    const staging = v.pg.sql('postgres', "select count(*) from pg_database where datname like '%__restoring_%'");
    if (staging !== '0') problems.push(`${staging} half-restored staging databases left`);
    if (v.sim.starts !== startsBefore + 1)
      problems.push(`the validator was started ${v.sim.starts - startsBefore} times`);
    if (!v.sim.isRunning) problems.push('the validator is not running');
    if (result.usersToReonboard.map((u) => u.name).join() !== `late-user-${index}`)
      problems.push(`users to re-onboard: ${result.usersToReonboard.map((u) => u.name).join(', ')}`);
    problems.push(...checkBackups(v));
    return problems;
  });
}

export function cantonReonboardScenario(): ChaosScenario {
  return cantonScenario('canton-reonboard', 3, async (v, index, context) => {
    const { client, taskQueue } = context;
    await backup(v, context);
    v.sim.loseNode();
    const startsBefore = v.sim.starts;
    const registryFile = path.join(v.dir, 'backups', 'participant-ids.json');
    const usedBefore = existsSync(registryFile)
      ? (JSON.parse(readFileSync(registryFile, 'utf8')) as { used: { participantId: string }[] }).used.map(
          (u) => u.participantId,
        )
      : [];
    const problems: string[] = [];
    // A used participant id is refused before anything changes.
    const refused = await startProcedure(client, {
      procedure: 'cantonReonboard',
      network: v.network,
      taskQueue,
      input: { participantId: v.sim.participantId, ...FAST },
    });
    const refusal = await resultOf(refused).then(
      () => 'completed',
      () => 'failed',
    );
    if (refusal !== 'failed') problems.push('a used participant id was accepted');
    if (v.sim.starts !== startsBefore) problems.push('the refused re-onboarding started the validator');

    const participantId = `${v.network}-p${index}`;
    const handle = await startProcedure(client, {
      procedure: 'cantonReonboard',
      network: v.network,
      taskQueue,
      input: { participantId, ...FAST },
    });
    const result = await resultOf<CantonReonboardResult>(handle);
    if (result.party.balance !== '1250.5000000000' || result.party.nameEntries.length === 0)
      problems.push(`the validator party came back as ${JSON.stringify(result.party)}`);
    if (v.sim.participantId !== participantId) problems.push(`the validator runs as ${v.sim.participantId}`);
    if (v.sim.starts !== startsBefore + 1)
      problems.push(`the validator was started ${v.sim.starts - startsBefore} times`);
    const registry = JSON.parse(readFileSync(registryFile, 'utf8')) as {
      current: string;
      used: { participantId: string }[];
    };
    if (registry.current !== participantId) problems.push(`the registry's current id is ${registry.current}`);
    const used = registry.used.map((u) => u.participantId);
    for (const id of [...usedBefore, participantId]) if (!used.includes(id)) problems.push(`the registry lost ${id}`);
    const opened = readdirSync(path.join(v.dir, 'backups')).filter((n) => n.startsWith('reonboard-'));
    if (opened.length) problems.push(`opened identities dumps left: ${opened.join(', ')}`);
    problems.push(...checkBackups(v));
    return problems;
  });
}

export function cantonNetworkRecoveryScenario(): ChaosScenario {
  return cantonScenario('canton-network-recovery', 3, async (v, index, { client, taskQueue, random }) => {
    const notCaughtUp = random.int(0, 2);
    v.sim.snapshot = {
      bytes: random.int(1, 4) * 1024 * 1024,
      notCaughtUp,
      pruned: false,
      bytesPerSecond: 2 * 1024 * 1024,
    };
    const migrationBefore = v.sim.migrationId;
    const consumedBefore = v.sim.dumpsConsumed.length;
    const requestsBefore = v.sim.snapshotRequests.length;
    const handle = await startProcedure(client, {
      procedure: 'cantonNetworkRecovery',
      network: v.network,
      taskQueue,
      input: {
        timestamp: new Date(Date.now() - 60_000).toISOString(),
        snapshotRetryIntervalMs: 300,
        snapshotDeadlineMs: 600_000,
        ...FAST,
      },
    });
    // No backup near the timestamp: the operator confirms the participant was healthy then.
    const done = resultOf<CantonNetworkRecoveryResult>(handle);
    let settled = false;
    void done.finally(() => (settled = true)).catch(() => undefined);
    while (!settled) {
      const status = await retryTransient(() => handle.query(statusQuery)).catch(() => undefined);
      if (status?.awaiting.some((a) => a.what.startsWith('confirmation'))) {
        await retryTransient(() =>
          handle.executeUpdate('approve', { args: [{ actor: 'chaos-operator' }], updateId: `approve-${index}` }),
        );
        break;
      }
      await sleep(300);
    }
    const result = await done;
    const problems: string[] = [];
    if (result.outcome !== 'migrated') problems.push(`outcome ${result.outcome}`);
    if (v.sim.migrationId !== migrationBefore + 1)
      problems.push(`the validator runs on migration ${v.sim.migrationId}, expected ${migrationBefore + 1}`);
    const consumed = v.sim.dumpsConsumed.slice(consumedBefore);
    const served = v.sim.snapshotsServed.at(-1);
    if (consumed.length !== 1) problems.push(`the app consumed ${consumed.length} migration dumps`);
    else if (consumed[0]!.sha256 !== served?.sha256) problems.push('the app consumed a dump that is not the snapshot');
    if (result.migrationDump?.sha256 !== served?.sha256) problems.push('the dump on disk is not the snapshot served');
    // The validator answered 429 until it had caught up, then the snapshot (again, if a download was cut off).
    const answers = v.sim.snapshotRequests.slice(requestsBefore).map((r) => r.status);
    if (answers.filter((s) => s === 429).length !== notCaughtUp || answers.at(-1) !== 200)
      problems.push(`the validator answered ${answers.join(', ')}`);
    const dumpFile = result.migrationDump?.file;
    if (dumpFile && (statSync(dumpFile).mode & 0o777) !== 0o600) problems.push('the dump is not owner-only');
    if (dumpFile) problems.push(...leftoverPartials(path.dirname(dumpFile)).map((f) => `partial file left: ${f}`));
    if (!v.sim.isRunning) problems.push('the validator is not running');
    return problems;
  });
}

export function cantonLsuRecoveryScenario(): ChaosScenario {
  return cantonScenario(
    'canton-lsu-recovery',
    2,
    async (v, index, { client, taskQueue, random }) => {
      // The participant is still processing the old synchronizer's events for a moment.
      v.sim.catchingUpUntil = Date.now() + random.int(0, 3000);
      const from = v.sim.physicalSynchronizerId;
      const [logical, serial] = [from.slice(0, from.lastIndexOf('-')), Number(from.slice(from.lastIndexOf('-') + 1))];
      const successor = `${logical}-${serial + 1}`;
      const performedBefore = v.sim.lsuPerformed.length;
      const handle = await startProcedure(client, {
        procedure: 'cantonLsuRecovery',
        network: v.network,
        taskQueue,
        input: {
          ...FAST,
          quietPeriodMs: 500,
          parameters: {
            newPhysicalSynchronizerId: successor,
            sequencerSuccessors: [
              { sequencerId: `SEQ::sv${index}::1220${'ab'.repeat(32)}`, host: 'sequencer.sv.example', port: 443 },
            ],
          },
        },
      });
      const result = await resultOf<CantonLsuRecoveryResult>(handle);
      const problems: string[] = [];
      if (!result.lsu.connected) problems.push('not connected to the successor');
      if (v.sim.physicalSynchronizerId !== successor)
        problems.push(`the participant is on ${v.sim.physicalSynchronizerId}, expected ${successor}`);
      const performed = v.sim.lsuPerformed.length - performedBefore;
      if (performed !== 1) problems.push(`perform_manual_lsu ran ${performed} times`);
      else if (v.sim.lsuPerformed.at(-1)!.from !== from)
        problems.push('the upgrade started from the wrong synchronizer');
      if (!v.sim.isRunning) problems.push('the validator is not running');
      return problems;
    },
    '0.7.4',
  );
}
