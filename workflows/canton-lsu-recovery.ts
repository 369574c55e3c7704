/**
 * Canton/Splice recovery from a broken global synchronizer on Splice 0.6.2 and later: the roll-forward
 * Logical Synchronizer Upgrade of the guide (guides/splice-validator-disaster-recovery-0.7.rst, "Roll Forward
 * Logical Synchronizer Upgrade"). The super validators move the network to a new physical synchronizer and
 * communicate its id and the sequencer successors; each validator moves its participant there.
 *
 * Runbook:
 *   1. Read the network and the Splice release (before 0.6.2 this procedure is refused for canton-network-recovery).
 *   2. Take the new physical synchronizer id and the sequencer successors from the input, or wait for them.
 *   3. Wait until the participant has caught up on the existing synchronizer: no new `Processing event at`.
 *   4. Run `perform_manual_lsu(existing, new, upgradeTime = None, sequencerSuccessors)` in the Canton console.
 *   5. Check the validator afterwards: ready, and its party's balance visible.
 *   6. Leave the ACS-mismatch check to the operator, as the guide says, with what to look for.
 */
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities, LsuOutcome, PartyCheck } from '../activities';
import type { LsuParameters } from '../contracts/updates';
import { PROCEDURES } from '../contracts/procedures';
import type { ProcedureReport } from '../contracts/report';
import { networkRecoveryFor, waitForValidator } from './lib/canton';
import { awaitLsuParameters, caughtUp, lsuParametersOf, lsuParametersProblem } from './lib/canton-lsu';
import { optionalNumber, rejectUnknownFields, requireNetworkName, requireObject } from './lib/input';
import { pollUntil } from './lib/poll';
import { asWorkflowFailure, Procedure } from './lib/procedure';

export interface CantonLsuRecoveryInput {
  network: string;
  /** What the super validators communicated; absent: wait for the `lsuParameters` update. */
  parameters?: LsuParameters;
  /** How long without a new `Processing event at` counts as caught up (the guide's indicator). */
  quietPeriodMs?: number;
  catchUpTimeoutMs?: number;
  parametersTimeoutMs?: number;
  pollIntervalMs?: number;
  readinessTimeoutMs?: number;
}

export interface CantonLsuRecoveryResult {
  report: ProcedureReport;
  release: string;
  parameters: LsuParameters;
  catchUp: string;
  lsu: LsuOutcome;
  party: PartyCheck;
}

const { describeCantonNetwork, readCantonRelease, readCantonLastEvent, checkCantonParty } = proxyActivities<Activities>(
  { startToCloseTimeout: '5m', heartbeatTimeout: '10s', retry: { maximumAttempts: 5 } },
);
// The console connects, upgrades and reconnects: minutes. A failed upgrade is worth a few more tries, no more.
const { performCantonLsu } = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '10s', maximumAttempts: 3 },
});

const HOUR = 3_600_000;

export async function cantonLsuRecovery(rawInput: CantonLsuRecoveryInput): Promise<CantonLsuRecoveryResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, [
    'network',
    'parameters',
    'quietPeriodMs',
    'catchUpTimeoutMs',
    'parametersTimeoutMs',
    'pollIntervalMs',
    'readinessTimeoutMs',
  ]);
  const network = requireNetworkName(input);
  if (input.parameters !== undefined) {
    const problem = lsuParametersProblem(input.parameters);
    if (problem)
      throw ApplicationFailure.nonRetryable(
        `input.parameters${problem.startsWith('expected') ? ': ' : '.'}${problem}`,
        'InvalidInput',
      );
  }
  const quietPeriodMs = optionalNumber(input, 'quietPeriodMs', 0, 24 * HOUR) ?? 5 * 60_000;
  const catchUpTimeoutMs = optionalNumber(input, 'catchUpTimeoutMs', 1000, 7 * 24 * HOUR) ?? 6 * HOUR;
  const parametersTimeoutMs = optionalNumber(input, 'parametersTimeoutMs', 1000, 30 * 24 * HOUR) ?? 7 * 24 * HOUR;
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 100, 10 * 60_000) ?? 30_000;
  const readinessTimeoutMs = optionalNumber(input, 'readinessTimeoutMs', 1000, 24 * HOUR) ?? 30 * 60_000;
  const run = new Procedure(PROCEDURES.cantonLsuRecovery.name, network);
  const given = input.parameters ? lsuParametersOf(input.parameters as LsuParameters) : undefined;

  try {
    const release = await run.step(
      'read-plan',
      'Read the network and its Splice release',
      async () => {
        await describeCantonNetwork({ network });
        return readCantonRelease({ network });
      },
      (r) => `Splice ${r.release} (${r.source})`,
    );
    const procedure = networkRecoveryFor(release.release);
    if (procedure.workflowType !== 'cantonLsuRecovery')
      throw ApplicationFailure.nonRetryable(
        `${procedure.why}: start ${PROCEDURES.cantonNetworkRecovery.name} for ${network} instead`,
        'WrongProcedure',
      );
    run.decide('roll forward with a Logical Synchronizer Upgrade', procedure.why);

    const parameters = await run.step(
      'lsu-parameters',
      'Take the new physical synchronizer and sequencer successors from the super validators',
      async () => {
        const p = await awaitLsuParameters(run, given, parametersTimeoutMs);
        if (!p) throw ApplicationFailure.nonRetryable('nobody gave the LSU parameters in time', 'TimedOut');
        return p;
      },
      (p) => `${p.newPhysicalSynchronizerId}, ${p.sequencerSuccessors.length} sequencer successor(s)`,
    );

    const catchUp = await run.step(
      'catch-up',
      'Wait until the participant has caught up on the existing synchronizer',
      () =>
        pollUntil(
          'no new "Processing event at" in the participant log',
          async () => {
            const last = await readCantonLastEvent({ network });
            const verdict = caughtUp({ lastEventAt: last.at, observedAt: Date.now() }, quietPeriodMs);
            run.setProgress({ catchUp: verdict.evidence });
            return verdict.done ? verdict.evidence : undefined;
          },
          { timeoutMs: catchUpTimeoutMs, intervalMs: pollIntervalMs },
        ),
      (evidence) => evidence,
    );

    const lsu = await run.step(
      'perform-lsu',
      'Perform the roll-forward LSU in the Canton console',
      async () => {
        const outcome = await performCantonLsu({ network, ...parameters });
        if (!outcome.connected)
          throw ApplicationFailure.nonRetryable(
            `the participant is not connected to ${parameters.newPhysicalSynchronizerId} after the upgrade; check its logs and the parameters with the super validators`,
            'LsuNotConnected',
          );
        return outcome;
      },
      (o) =>
        o.action === 'performed'
          ? `connected to ${parameters.newPhysicalSynchronizerId}`
          : `already connected to ${parameters.newPhysicalSynchronizerId}`,
    );

    const party = await run.step(
      'health-after',
      "Check the validator is ready and its party's balance is visible",
      async () => {
        await waitForValidator(network, 'ready', { timeoutMs: readinessTimeoutMs, intervalMs: pollIntervalMs });
        return pollUntil('the validator party balance', () => checkCantonParty({ network }), {
          timeoutMs: readinessTimeoutMs,
          intervalMs: pollIntervalMs,
        });
      },
      (p) => `ready; balance ${p.balance}`,
    );
    run.note(
      'the guide: validators that saw different last transactions before the failure desynchronise; watch the participant for ACS commitment mismatches on the new synchronizer and resolve them with the standard ACS mismatch process',
    );
    return { report: run.succeed(), release: release.release, parameters, catchUp, lsu, party };
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
