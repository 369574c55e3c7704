/**
 * Canton/Splice validator backup, run on a Temporal Schedule: both databases and the node-identities dump,
 * then a manifest, then retention.
 *
 * Runbook:
 *   1. Read the network from configuration.
 *   2. At once: pg_dump the validator and participant databases (custom format, streamed), and fetch the
 *      node-identities dump from the validator admin API, sealed at rest.
 *   3. Record the validator's users, so a restore can tell who was onboarded after this backup.
 *   4. Write the manifest (timestamp, migration id, participant id, users, sizes, SHA-256): the backup is complete.
 *   5. Apply retention by count and age, never deleting the newest verified backup.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, CantonManifest, RetentionResult } from '../activities';
import type { ProcedureReport } from '../contracts/report';
import { PROCEDURES } from '../contracts/procedures';
import { rejectUnknownFields, requireNetworkName, requireObject } from './lib/input';
import { asWorkflowFailure, Procedure, runStamp } from './lib/procedure';

export interface CantonBackupInput {
  network: string;
}

export interface CantonBackupResult {
  report: ProcedureReport;
  backupId: string;
  manifest: CantonManifest;
  retention: RetentionResult;
}

const { describeCantonNetwork, sealCantonBackup, fetchCantonIdentities, listCantonUsers } = proxyActivities<Activities>(
  {
    startToCloseTimeout: '2m',
    heartbeatTimeout: '10s',
    retry: { maximumAttempts: 5 },
  },
);
// Dumps of large databases take hours; heartbeats tell a dead worker from a slow dump.
const { dumpCantonDatabase, applyCantonRetention } = proxyActivities<Activities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '5s', maximumAttempts: 5 },
});

export async function cantonBackup(rawInput: CantonBackupInput): Promise<CantonBackupResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, ['network']);
  const network = requireNetworkName(input);
  const run = new Procedure(PROCEDURES.cantonBackup.name, network);
  const info = workflowInfo();
  const backupId = runStamp();
  try {
    const plan = await run.step(
      'read-plan',
      'Read the network from configuration',
      () => describeCantonNetwork({ network }),
      (p) => `databases ${p.databases.join(', ')}`,
    );
    const [dumps, identities] = await run.step(
      'dump',
      'Dump both databases and the node identities',
      () =>
        Promise.all([
          Promise.all(plan.databases.map((database) => dumpCantonDatabase({ network, backupId, database }))),
          fetchCantonIdentities({ network, backupId }),
        ]),
      ([d, id]) => `${d.map((x) => `${x.what} ${x.bytes} bytes`).join(', ')}; identities of ${id.participantId}`,
    );
    const files = [
      ...dumps,
      { what: identities.what, file: identities.file, bytes: identities.bytes, sha256: identities.sha256 },
    ];
    // Upstream's users list has names only, no onboarding times: the backup keeps the names it had.
    let users: string[] | undefined;
    if (patched('backup-records-users')) {
      try {
        users = await run.step(
          'users',
          "Record the validator's users",
          async () => (await listCantonUsers({ network })).map((u) => u.name),
          (u) => `${u.length} users`,
        );
      } catch {
        run.note(
          'the validator did not list its users; a restore from this backup cannot tell who was onboarded after it',
        );
      }
    }
    const manifest = await run.step(
      'manifest',
      'Write the manifest',
      () =>
        sealCantonBackup({
          network,
          backupId,
          createdAt: info.startTime.toISOString(),
          migrationId: plan.migrationId,
          participantId: identities.participantId,
          files,
          ...(users ? { users } : {}),
        }),
      () => `${files.length} files`,
    );
    for (const f of files)
      run.report.backups.push({ what: f.what, location: f.file, bytes: f.bytes, sha256: f.sha256 });
    const retention = await run.step(
      'retention',
      'Apply retention',
      () => applyCantonRetention({ network }),
      (r) => `kept ${r.kept.length}, deleted ${r.deleted.length}`,
    );
    for (const id of retention.deleted) run.note(`retention deleted backup ${id}`);
    return { report: run.succeed(), backupId, manifest, retention };
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
