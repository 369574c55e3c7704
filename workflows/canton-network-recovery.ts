/**
 * Canton/Splice network recovery from a data snapshot (Splice's procedure when the global synchronizer is
 * lost): the super validators agree on a timestamp, every validator exports its data as of then, and
 * restarts on the recovered synchronizer with the next migration id.
 *
 * Runbook:
 *   1. Read the network from configuration, and the Splice release: from 0.6.2 this procedure is refused
 *      in favour of the roll-forward LSU (canton-lsu-recovery).
 *   2. Take the agreed timestamp from the input, or wait for an operator to give it (`agreeTimestamp`).
 *   3. Check the participant was healthy around it: the validator answers now, and a backup taken near the
 *      timestamp shows it answered then; without that evidence an operator must confirm.
 *   4. Request the snapshot. 429 (not caught up): ask again until the deadline. 400 (pruned past the
 *      timestamp), or the deadline: with an operator's approval, re-onboard from the identities backup
 *      instead (the canton-reonboard procedure, as a child run).
 *   5. Extract `data_snapshot` from the streamed body into domain_migration_dump.json.
 *   6. Stop the validator; copy the dump into its domain-upgrade-dump volume; start it with the next
 *      migration id; wait for readiness.
 *   7. Record the new migration id (later backups dump `participant-<id>`).
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { executeChild, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities, BackupFile } from '../activities';
import { PROCEDURES, procedureWorkflowId } from '../contracts/procedures';
import { agreeTimestampUpdate, approveUpdate } from '../contracts/updates';
import type { ProcedureReport } from '../contracts/report';
import type { CantonReonboardResult, cantonReonboard } from './canton-reonboard';
import { badInput, optionalNumber, rejectUnknownFields, requireNetworkName, requireObject } from './lib/input';
import { networkRecoveryFor, waitForValidator } from './lib/canton';
import { asWorkflowFailure, failureMessage, Procedure, runStamp } from './lib/procedure';
import { conditionWithin } from './lib/poll';

export interface CantonNetworkRecoveryInput {
  network: string;
  /** The timestamp the super validators agreed on, UTC (2024-04-17T19:12:02Z); absent: wait for it. */
  timestamp?: string;
  /** The new participant id if the validator must be re-onboarded; may also come with the approval. */
  reonboardParticipantId?: string;
  /** How long a 429 (participant not caught up) is asked again before re-onboarding is proposed. */
  snapshotDeadlineMs?: number;
  snapshotRetryIntervalMs?: number;
  /** A backup this close to the timestamp counts as evidence that the participant was healthy then. */
  healthWindowMs?: number;
  timestampTimeoutMs?: number;
  approvalTimeoutMs?: number;
  pollIntervalMs?: number;
  readinessTimeoutMs?: number;
}

export interface CantonNetworkRecoveryResult {
  report: ProcedureReport;
  timestamp: string;
  outcome: 'migrated' | 'reonboarded';
  /** 'migrated': the dump the app consumed and the migration id it now runs on. */
  migrationDump?: BackupFile;
  migrationId: number;
  snapshotRequests: number;
  reonboard?: Pick<CantonReonboardResult, 'participantId' | 'backupId' | 'party'>;
}

const {
  describeCantonNetwork,
  findCantonHealthEvidence,
  checkCantonParticipantId,
  recordCantonMigrationId,
  discardCantonSnapshotResponse,
  readCantonRelease,
} = proxyActivities<Activities>({ startToCloseTimeout: '2m', heartbeatTimeout: '10s', retry: { maximumAttempts: 5 } });
// Gigabytes over the network and through the parser: heartbeats tell a dead worker from a slow body.
const { requestCantonDataSnapshot, extractCantonMigrationDump, installCantonMigrationDump, runCantonLauncher } =
  proxyActivities<Activities>({
    startToCloseTimeout: '6h',
    heartbeatTimeout: '15s',
    retry: { initialInterval: '5s', maximumAttempts: 5 },
  });

const HOUR = 3_600_000;
const UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const PARTICIPANT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const AWAIT_TIMESTAMP = 'the timestamp the super validators agreed on';
const AWAIT_HEALTH = 'confirmation that the participant was healthy around the timestamp';
const AWAIT_REONBOARD = 'approval to re-onboard the validator from its identities backup';
/** A response that is not the snapshot (cut short, not JSON) is set aside and asked for again, this often. */
const MAX_CORRUPT_RESPONSES = 3;

const failureType = (err: unknown) =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
const isUtcTimestamp = (v: unknown): v is string =>
  typeof v === 'string' && UTC_TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v));

export async function cantonNetworkRecovery(
  rawInput: CantonNetworkRecoveryInput,
): Promise<CantonNetworkRecoveryResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, [
    'network',
    'timestamp',
    'reonboardParticipantId',
    'snapshotDeadlineMs',
    'snapshotRetryIntervalMs',
    'healthWindowMs',
    'timestampTimeoutMs',
    'approvalTimeoutMs',
    'pollIntervalMs',
    'readinessTimeoutMs',
  ]);
  const network = requireNetworkName(input);
  if (input.timestamp !== undefined && !isUtcTimestamp(input.timestamp)) {
    throw badInput('timestamp', 'expected the agreed timestamp in UTC, such as 2024-04-17T19:12:02Z');
  }
  if (
    input.reonboardParticipantId !== undefined &&
    (typeof input.reonboardParticipantId !== 'string' || !PARTICIPANT_ID.test(input.reonboardParticipantId))
  ) {
    throw badInput('reonboardParticipantId', 'expected a participant id of letters, digits, "_" and "-"');
  }
  const snapshotDeadlineMs = optionalNumber(input, 'snapshotDeadlineMs', 0, 7 * 24 * HOUR) ?? 2 * HOUR;
  const snapshotRetryIntervalMs = optionalNumber(input, 'snapshotRetryIntervalMs', 100, HOUR) ?? 30_000;
  const healthWindowMs = optionalNumber(input, 'healthWindowMs', 0, 7 * 24 * HOUR) ?? 6 * HOUR;
  const timestampTimeoutMs = optionalNumber(input, 'timestampTimeoutMs', 1000, 30 * 24 * HOUR) ?? 7 * 24 * HOUR;
  const approvalTimeoutMs = optionalNumber(input, 'approvalTimeoutMs', 1000, 7 * 24 * HOUR) ?? 24 * HOUR;
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 100, 60_000) ?? 2000;
  const readinessTimeoutMs = optionalNumber(input, 'readinessTimeoutMs', 1000, 24 * HOUR) ?? 30 * 60_000;
  const run = new Procedure(PROCEDURES.cantonNetworkRecovery.name, network);
  const workId = runStamp();

  let timestamp = input.timestamp as string | undefined;
  let reonboardParticipantId = input.reonboardParticipantId as string | undefined;
  const approvals = new Set<string>();
  const progress = { snapshotRequests: 0, lastAnswer: '' };
  run.setProgress(progress);

  setHandler(
    agreeTimestampUpdate,
    ({ actor, timestamp: agreed }) => {
      timestamp = agreed;
      run.operatorAction(actor, 'gave the agreed timestamp', agreed);
      run.received(AWAIT_TIMESTAMP);
      return `timestamp ${agreed} accepted`;
    },
    {
      validator: ({ actor, timestamp: agreed }) => {
        if (typeof actor !== 'string' || actor.trim() === '') throw new Error('actor: required (who gives it)');
        if (!run.isAwaiting(AWAIT_TIMESTAMP)) throw new Error('no timestamp is awaited now');
        if (!isUtcTimestamp(agreed)) throw new Error('timestamp: expected UTC, such as 2024-04-17T19:12:02Z');
      },
    },
  );
  setHandler(
    approveUpdate,
    ({ actor, comment, participantId }) => {
      const what = [AWAIT_HEALTH, AWAIT_REONBOARD].find((w) => run.isAwaiting(w))!;
      if (participantId) reonboardParticipantId = participantId;
      approvals.add(what);
      run.operatorAction(
        actor,
        `approved: ${what}`,
        [comment, participantId && `participant id ${participantId}`].filter(Boolean).join('; ') || undefined,
      );
      run.received(what);
      return `approved by ${actor}`;
    },
    {
      validator: ({ actor, participantId }) => {
        if (typeof actor !== 'string' || actor.trim() === '') throw new Error('actor: required (who approves)');
        if (!run.isAwaiting(AWAIT_HEALTH) && !run.isAwaiting(AWAIT_REONBOARD))
          throw new Error('no approval is awaited now');
        if (participantId !== undefined && (typeof participantId !== 'string' || !PARTICIPANT_ID.test(participantId)))
          throw new Error('participantId: expected letters, digits, "_" and "-"');
        if (run.isAwaiting(AWAIT_REONBOARD) && !participantId && !reonboardParticipantId)
          throw new Error('participantId: required, the new participant id for the re-onboarding (never used before)');
      },
    },
  );

  /** Waits for an operator's approval of `what`, or fails the run when nobody gives it in time. */
  const approval = async (what: string) => {
    run.await(what, 'an approver');
    if (!(await conditionWithin(() => approvals.has(what), approvalTimeoutMs))) {
      throw ApplicationFailure.nonRetryable(
        `nobody gave ${what} within ${approvalTimeoutMs / 60_000} minutes`,
        'TimedOut',
      );
    }
  };
  const readiness = (wanted: 'ready' | 'down') =>
    waitForValidator(network, wanted, { timeoutMs: readinessTimeoutMs, intervalMs: pollIntervalMs });

  try {
    const plan = await run.step(
      'read-plan',
      'Read the network from configuration',
      async () => {
        const described = await describeCantonNetwork({ network });
        if (!patched('read-splice-release')) return { ...described, release: undefined };
        return { ...described, release: await readCantonRelease({ network }) };
      },
      (p) => `migration ${p.migrationId}${p.release ? `, Splice ${p.release.release}` : ''}`,
    );
    if (plan.release) {
      const procedure = networkRecoveryFor(plan.release.release);
      if (procedure.workflowType !== 'cantonNetworkRecovery')
        throw ApplicationFailure.nonRetryable(
          `${procedure.why}: start ${PROCEDURES.cantonLsuRecovery.name} for ${network} instead (release from ${plan.release.source})`,
          'WrongProcedure',
        );
      run.decide('recover from a data snapshot', procedure.why);
    }
    const agreed = await run.step(
      'agreed-timestamp',
      'Take the timestamp the super validators agreed on',
      async () => {
        if (timestamp === undefined) {
          run.await(AWAIT_TIMESTAMP, 'an approver (from the super validators)');
          if (!(await conditionWithin(() => timestamp !== undefined, timestampTimeoutMs))) {
            throw ApplicationFailure.nonRetryable(`nobody gave ${AWAIT_TIMESTAMP} in time`, 'TimedOut');
          }
        }
        return timestamp!;
      },
      (t) => t,
    );

    await run.step(
      'health-around-timestamp',
      'Check the participant was healthy around the timestamp',
      async () => {
        await readiness('ready');
        const evidence = await findCantonHealthEvidence({ network, timestamp: agreed, windowMs: healthWindowMs });
        if (evidence.backupsNear.length > 0) {
          return `ready now; backups near the timestamp: ${evidence.backupsNear.map((b) => `${b.backupId} (${b.createdAt})`).join(', ')}`;
        }
        await approval(AWAIT_HEALTH);
        return 'ready now; no backup near the timestamp, confirmed by an operator';
      },
      (d) => d,
    );

    // Ask for the snapshot; 429 means "not yet", so ask again until the deadline.
    const deadline = Date.now() + snapshotDeadlineMs;
    const requestSnapshot = () =>
      run.step(
        'request-snapshot',
        `Request the data snapshot as of ${agreed}`,
        async () => {
          for (;;) {
            progress.snapshotRequests++;
            const answer = await requestCantonDataSnapshot({
              network,
              timestamp: agreed,
              workId,
              migrationId: plan.migrationId,
            });
            progress.lastAnswer = answer.outcome === 'downloaded' ? 'downloaded' : answer.detail;
            if (answer.outcome !== 'not-caught-up' || Date.now() + snapshotRetryIntervalMs > deadline) return answer;
            await sleep(snapshotRetryIntervalMs);
          }
        },
        (a) =>
          a.outcome === 'downloaded'
            ? `${a.bytes} bytes after ${progress.snapshotRequests} requests`
            : `${a.outcome} after ${progress.snapshotRequests} requests: ${a.detail}`,
      );
    let fallbackReason: string | undefined;
    let migrationDump: BackupFile | undefined;
    for (let corrupt = 0; !migrationDump && !fallbackReason;) {
      const answer = await requestSnapshot();
      if (answer.outcome === 'pruned') {
        fallbackReason = `the participant cannot export its data as of ${agreed} (${answer.detail}); it was probably pruned past it`;
      } else if (answer.outcome === 'not-caught-up') {
        fallbackReason = `the participant had not caught up to ${agreed} by the deadline, ${Math.round(snapshotDeadlineMs / 60_000)} minutes after the first of ${progress.snapshotRequests} requests`;
      } else {
        try {
          migrationDump = await run.step(
            'extract',
            'Extract data_snapshot into domain_migration_dump.json',
            () => extractCantonMigrationDump({ network, workId, migrationId: plan.migrationId }),
            (d) => `${d.bytes} bytes, SHA-256 ${d.sha256}`,
          );
        } catch (err) {
          // The response was set aside (kept, never deleted): ask the validator again, a few times.
          if (failureType(err) !== 'SnapshotCorrupt' || ++corrupt >= MAX_CORRUPT_RESPONSES) throw err;
          run.note(`${failureMessage(err)}; asking the validator again`);
        }
      }
    }

    if (fallbackReason) {
      run.decide('re-onboard the validator from its identities backup', fallbackReason);
      await run.step(
        'approval',
        'Wait for an approver to agree to re-onboard, with a participant id never used before',
        async () => {
          // The id is checked before anything changes; a used one is refused and a new approval awaited.
          for (;;) {
            await approval(AWAIT_REONBOARD);
            try {
              await checkCantonParticipantId({ network, participantId: reonboardParticipantId! });
              return reonboardParticipantId!;
            } catch (err) {
              if (failureType(err) !== 'InvalidInput') throw err;
              run.note(`${failureMessage(err)}; approve again with another participant id`);
              approvals.delete(AWAIT_REONBOARD);
              reonboardParticipantId = undefined;
            }
          }
        },
        (id) => `participant id ${id}`,
      );
      const next = plan.migrationId + 1;
      await run.step(
        'stop-old-validator',
        'Stop the validator that cannot be migrated',
        async () => {
          await runCantonLauncher({ network, action: 'stop' });
          return readiness('down');
        },
        () => 'down',
      );
      // The synchronizer was recovered under the next migration id; the new participant joins that one.
      await run.step(
        'record-migration-id',
        'Record the next migration id',
        () => recordCantonMigrationId({ network, migrationId: next, by: workflowInfo().workflowId }),
        () => `migration ${next}`,
      );
      const reonboard = await run.step(
        'reonboard',
        'Re-onboard from the identities backup (canton-reonboard)',
        () =>
          executeChild<typeof cantonReonboard>(PROCEDURES.cantonReonboard.workflowType, {
            workflowId: procedureWorkflowId(PROCEDURES.cantonReonboard.name, network),
            args: [{ network, participantId: reonboardParticipantId!, pollIntervalMs, readinessTimeoutMs }],
          }),
        (r) => `participant ${r.participantId} from backup ${r.backupId}`,
      );
      run.note(`every later restart of this validator must pass -P ${reonboard.participantId}`);
      return {
        report: run.succeed(),
        timestamp: agreed,
        outcome: 'reonboarded',
        migrationId: next,
        snapshotRequests: progress.snapshotRequests,
        reonboard: { participantId: reonboard.participantId, backupId: reonboard.backupId, party: reonboard.party },
      };
    }

    const dump = migrationDump!;
    run.report.backups.push({
      what: 'data snapshot (domain_migration_dump.json)',
      location: dump.file,
      bytes: dump.bytes,
      sha256: dump.sha256,
    });
    const next = plan.migrationId + 1;
    await run.step(
      'stop',
      'Stop the validator',
      async () => {
        await runCantonLauncher({ network, action: 'stop' });
        return readiness('down');
      },
      () => 'down',
    );
    await run.step(
      'install-dump',
      'Copy the dump into the domain-upgrade-dump volume',
      () => installCantonMigrationDump({ network, dumpFile: dump.file }),
      () => 'domain_migration_dump.json in place',
    );
    await run.step(
      'start-next-migration',
      `Start the validator with migration id ${next}`,
      async () => {
        await runCantonLauncher({ network, action: 'start', migrationId: next });
        return readiness('ready');
      },
      () => 'ready',
    );
    await run.step(
      'record-migration-id',
      'Record the new migration id',
      () => recordCantonMigrationId({ network, migrationId: next, by: workflowInfo().workflowId }),
      () => `migration ${next}: later backups dump participant-${next}`,
    );
    await discardCantonSnapshotResponse({ network, workId });
    return {
      report: run.succeed(),
      timestamp: agreed,
      outcome: 'migrated',
      migrationDump: dump,
      migrationId: next,
      snapshotRequests: progress.snapshotRequests,
    };
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
