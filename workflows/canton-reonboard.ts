/**
 * Canton/Splice validator re-onboarding from a node-identities backup (Splice's procedure when no full backup
 * can be restored): a new participant, with a participant id never used before, takes over the old identities.
 *
 * Runbook:
 *   1. Refuse a participant id used before on this network — before anything changes.
 *   2. Pick the backup (given, or the newest complete one), verify it, and open its identities dump into an
 *      owner-only file.
 *   3. Start the new validator with the dump and the new participant id (the configured re-onboard command).
 *   4. Wait for readiness, then for the validator party's balance and name entries to be back.
 *   5. Record the participant id every later restart must use; remove the opened dump.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, PartyCheck } from '../activities';
import { PROCEDURES } from '../contracts/procedures';
import type { ProcedureReport } from '../contracts/report';
import {
  badInput,
  optionalBackupId,
  optionalNumber,
  rejectUnknownFields,
  requireNetworkName,
  requireObject,
} from './lib/input';
import { waitForValidator } from './lib/canton';
import { pollUntil } from './lib/poll';
import { asWorkflowFailure, Procedure, runStamp } from './lib/procedure';

export interface CantonReonboardInput {
  network: string;
  /** The new participant id (`-P`), never used on this network. */
  participantId: string;
  backupId?: string;
  pollIntervalMs?: number;
  readinessTimeoutMs?: number;
}

export interface CantonReonboardResult {
  report: ProcedureReport;
  participantId: string;
  backupId: string;
  party: PartyCheck;
}

const {
  describeCantonNetwork,
  checkCantonParticipantId,
  verifyCantonBackup,
  unsealCantonIdentities,
  discardCantonIdentities,
  recordCantonParticipantId,
} = proxyActivities<Activities>({ startToCloseTimeout: '5m', heartbeatTimeout: '10s', retry: { maximumAttempts: 5 } });
const { reonboardCantonValidator } = proxyActivities<Activities>({
  startToCloseTimeout: '20m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '5s', maximumAttempts: 3 },
});
// Polled: "not back yet" is an answer, so one attempt each.
const { checkCantonParty } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 1 },
});

export async function cantonReonboard(rawInput: CantonReonboardInput): Promise<CantonReonboardResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, ['network', 'participantId', 'backupId', 'pollIntervalMs', 'readinessTimeoutMs']);
  const network = requireNetworkName(input);
  if (typeof input.participantId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(input.participantId)) {
    throw badInput(
      'participantId',
      'required: a new participant id of letters, digits, "_" and "-", never used on this network',
    );
  }
  const participantId = input.participantId;
  const backupId = optionalBackupId(input);
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 100, 60_000) ?? 2000;
  const readinessTimeoutMs = optionalNumber(input, 'readinessTimeoutMs', 1000, 24 * 3_600_000) ?? 30 * 60_000;
  const run = new Procedure(PROCEDURES.cantonReonboard.name, network);
  const info = workflowInfo();
  const workId = runStamp();

  const until = <T>(what: string, probe: () => Promise<T | undefined>) =>
    pollUntil(what, probe, { timeoutMs: readinessTimeoutMs, intervalMs: pollIntervalMs });

  try {
    await run.step(
      'read-plan',
      'Read the network from configuration',
      () => describeCantonNetwork({ network }),
      (p) => `migration ${p.migrationId}`,
    );
    await run.step(
      'check-participant-id',
      'Check the participant id was never used',
      () => checkCantonParticipantId({ network, participantId }),
      () => `${participantId} is new`,
    );
    const backup = await run.step(
      'verify-backup',
      'Verify the backup holding the identities',
      () => verifyCantonBackup({ network, ...(backupId ? { backupId } : {}) }),
      (m) => `backup ${m.backupId} of participant ${m.participantId}`,
    );
    const identitiesFile = await run.step(
      'open-identities',
      'Open the identities dump',
      () => unsealCantonIdentities({ network, backupId: backup.backupId, workId }),
      () => 'owner-only file',
    );
    try {
      await run.step(
        'start-new-validator',
        'Start the new validator with the identities',
        () => reonboardCantonValidator({ network, identitiesFile, participantId }),
        () => `participant ${participantId}`,
      );
      await run.step(
        'readiness',
        'Wait for the validator to be ready',
        () => waitForValidator(network, 'ready', { timeoutMs: readinessTimeoutMs, intervalMs: pollIntervalMs }),
        () => 'ready',
      );
      const party = await run.step(
        'party-back',
        "Check the validator party's balance and name entries",
        () =>
          until("the validator party's balance and name entries", async () => {
            const check = await checkCantonParty({ network });
            // The party is back once its balance answers; a party with no name entry is answered with none.
            if (patched('party-back-by-balance')) return check;
            return check.nameEntries.length > 0 ? check : undefined;
          }),
        (p) => `balance ${p.balance}, ${p.nameEntries.length} name entries`,
      );
      await run.step(
        'record-participant-id',
        'Record the participant id for every later restart',
        () => recordCantonParticipantId({ network, participantId, by: info.workflowId }),
        () => `restart with -P ${participantId}`,
      );
      if (party.nameEntries.length === 0) run.note('the validator party has no name entries (ANS/CNS)');
      run.note(`every later restart of this validator must pass -P ${participantId}`);
      return { report: run.succeed(), participantId, backupId: backup.backupId, party };
    } finally {
      await discardCantonIdentities({ network, workId });
    }
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
