/**
 * Canton/Splice validator restore from backup (Splice's "restore from backup" procedure).
 *
 * Runbook:
 *   1. Read the network; pick the backup (given, or the newest complete one) and verify every checksum;
 *      refuse one 30 days old or more (the guide's limit: sequencers prune what it would need) unless forced.
 *   2. Scale the validator down with the configured command and check that it no longer answers.
 *   3. Move the current databases aside (renamed `<name>__before_<restoreId>`, never dropped).
 *   4. Restore both databases from their dumps (streamed by pg_restore; renamed into place when complete).
 *   5. Scale up and wait for the app's readiness endpoint.
 *   6. List the users onboarded after the backup (the validator's users now, less those the backup recorded):
 *      they must be re-onboarded by hand.
 */
import { ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities, CantonManifest, OnboardedUser } from '../activities';
import { PROCEDURES } from '../contracts/procedures';
import type { ProcedureReport } from '../contracts/report';
import {
  optionalBackupId,
  optionalBoolean,
  optionalNumber,
  rejectUnknownFields,
  requireNetworkName,
  requireObject,
} from './lib/input';
import { waitForValidator } from './lib/canton';
import { asWorkflowFailure, Procedure, runStamp } from './lib/procedure';

export interface CantonRestoreInput {
  network: string;
  /** The backup folder name; the newest complete backup when absent. */
  backupId?: string;
  /** Restore a backup 30 days old or more anyway (the guide says its participant will not catch up). */
  force?: boolean;
  pollIntervalMs?: number;
  readinessTimeoutMs?: number;
}

/** Splice's restore guide: a participant more than 30 days behind cannot catch up (sequencer pruning). */
export const MAX_BACKUP_AGE_DAYS = 30;

export interface CantonRestoreResult {
  report: ProcedureReport;
  restoreId: string;
  backup: CantonManifest;
  movedAside: string[];
  usersToReonboard: OnboardedUser[];
}

const { describeCantonNetwork, verifyCantonBackup, moveCantonDatabasesAside, listCantonUsers } =
  proxyActivities<Activities>({ startToCloseTimeout: '10m', heartbeatTimeout: '15s', retry: { maximumAttempts: 5 } });
// Asked of a node that may be lost: do not wait long for it (about 15 s of backoff), but ride out a worker
// dying under the call, which costs an attempt too.
const { listCantonUsers: listCantonUsersBefore } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});
const { runCantonLauncher } = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '5s', maximumAttempts: 5 },
});
const { restoreCantonDatabase } = proxyActivities<Activities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '5s', maximumAttempts: 5 },
});

export async function cantonRestore(rawInput: CantonRestoreInput): Promise<CantonRestoreResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, ['network', 'backupId', 'force', 'pollIntervalMs', 'readinessTimeoutMs']);
  const network = requireNetworkName(input);
  const backupId = optionalBackupId(input);
  const force = optionalBoolean(input, 'force') ?? false;
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 100, 60_000) ?? 2000;
  const readinessTimeoutMs = optionalNumber(input, 'readinessTimeoutMs', 1000, 24 * 3_600_000) ?? 30 * 60_000;
  const run = new Procedure(PROCEDURES.cantonRestore.name, network);
  const restoreId = runStamp();

  const waitFor = (wanted: 'ready' | 'down') =>
    waitForValidator(network, wanted, { timeoutMs: readinessTimeoutMs, intervalMs: pollIntervalMs });

  try {
    const plan = await run.step(
      'read-plan',
      'Read the network from configuration',
      () => describeCantonNetwork({ network }),
      (p) => `databases ${p.databases.join(', ')}`,
    );
    const backup = await run.step(
      'verify-backup',
      'Verify the backup',
      () => verifyCantonBackup({ network, ...(backupId ? { backupId } : {}) }),
      (m) => `backup ${m.backupId} of ${m.createdAt}, ${m.files.length} files verified`,
    );
    run.decide(`restore backup ${backup.backupId}`, backupId ? 'chosen by the operator' : 'the newest complete backup');
    const ageDays = (Date.now() - Date.parse(backup.createdAt)) / 86_400_000;
    if (ageDays >= MAX_BACKUP_AGE_DAYS) {
      const age = `backup ${backup.backupId} is ${Math.floor(ageDays)} days old`;
      if (!force)
        throw ApplicationFailure.nonRetryable(
          `${age}; Splice restores only backups under ${MAX_BACKUP_AGE_DAYS} days old, as sequencers prune what an older participant needs to catch up. Re-onboard from the identities backup (cantonReonboard) instead, or pass force: true to restore it anyway`,
          'BackupTooOld',
        );
      run.decide('restore it anyway', `${age} and force was given`);
    }
    if (backup.migrationId !== plan.migrationId) {
      throw ApplicationFailure.nonRetryable(
        `backup ${backup.backupId} is of migration ${backup.migrationId}, the network is at ${plan.migrationId}`,
        'WrongMigration',
      );
    }
    // Users the node has now; those the restored node lacks were onboarded after the backup. Best effort:
    // a lost node cannot be asked.
    let usersBefore: OnboardedUser[] | undefined;
    try {
      usersBefore = await run.step(
        'users-before',
        'List the users the validator has now',
        () => listCantonUsersBefore({ network }),
        (u) => `${u.length} users`,
      );
    } catch {
      run.note(
        'the validator could not list its users before the restore; check for users onboarded after the backup by hand',
      );
    }
    await run.step(
      'scale-down',
      'Scale the validator down',
      async () => {
        await runCantonLauncher({ network, action: 'stop' });
        return waitFor('down');
      },
      (p) => `down (${p.detail})`,
    );
    const movedAside = await run.step(
      'move-aside',
      'Move the current databases aside',
      () => moveCantonDatabasesAside({ network, restoreId, databases: plan.databases }),
      (m) => (m.length ? m.join(', ') : 'no current databases'),
    );
    for (const name of movedAside)
      run.report.backups.push({ what: 'database before the restore (renamed)', location: name });
    await run.step(
      'restore',
      'Restore both databases',
      () =>
        Promise.all(
          plan.databases.map((database) => {
            const dump = backup.files.find((f) => f.what === `database ${database}`);
            if (!dump)
              throw ApplicationFailure.nonRetryable(`backup ${backup.backupId} has no dump of ${database}`, 'NoBackup');
            return restoreCantonDatabase({ network, restoreId, database, file: dump.file });
          }),
        ),
      () => plan.databases.join(', '),
    );
    await run.step(
      'scale-up',
      'Scale the validator up and wait until it is ready',
      async () => {
        await runCantonLauncher({ network, action: 'start' });
        return waitFor('ready');
      },
      (p) => `ready (${p.detail})`,
    );
    const usersToReonboard = await run.step(
      'users-after-backup',
      'Find the users onboarded after the backup',
      async () => {
        if (!usersBefore) return [];
        // What the backup recorded; older backups did not, and the restored node is asked instead.
        const recorded = patched('restore-users-from-manifest') ? backup.users : undefined;
        const restored = new Set(recorded ?? (await listCantonUsers({ network })).map((u) => u.name));
        return usersBefore.filter((u) => !restored.has(u.name));
      },
      (u) => (u.length ? `${u.length} to re-onboard: ${u.map((x) => x.name).join(', ')}` : 'none'),
    );
    if (usersToReonboard.length) run.note(`re-onboard by hand: ${usersToReonboard.map((u) => u.name).join(', ')}`);
    return { report: run.succeed(), restoreId, backup, movedAside, usersToReonboard };
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
