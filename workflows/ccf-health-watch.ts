/**
 * CCF health watch: CCF's own disaster criterion, applied continuously. Every node of the network is asked
 * which node it follows as primary, in which view (`GET /node/consensus`). While a majority agrees on one
 * pair the service is healthy; once no majority has agreed for longer than `unhealthyForMs`, the operator
 * is alerted (log and webhooks) and, if asked, a CCF recovery is started that waits for approval.
 *
 * Runbook, every `pollIntervalMs`:
 *   1. Probe every node's consensus view at once.
 *   2. Healthy: remember the primary (the recovery's tie-breaker); clear any outage.
 *   3. Unhealthy for long enough, once per outage: alert, and start the recovery waiting for approval.
 */
import {
  ParentClosePolicy,
  continueAsNew,
  log,
  proxyActivities,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities, CcfPlan } from '../activities';
import { PROCEDURES, procedureWorkflowId } from '../contracts/procedures';
import type { ccfRecovery } from './ccf-recovery';
import { assessServiceHealth, type ServiceHealth } from './lib/ccf';
import { optionalBoolean, optionalNumber, rejectUnknownFields, requireNetworkName, requireObject } from './lib/input';
import { asWorkflowFailure, Procedure } from './lib/procedure';

export interface CcfHealthWatchInput {
  network: string;
  pollIntervalMs?: number;
  /** How long no majority may agree on a primary before it is a disaster. */
  unhealthyForMs?: number;
  /** Start `ccf-recovery` (waiting for approval) when the service is declared down. */
  startRecovery?: boolean;
  /** Stop after this many checks (a scheduled watch); unbounded when absent. */
  maxChecks?: number;
  /** Carried across continue-as-new. */
  carried?: WatchState;
}

export interface WatchState {
  checks: number;
  unhealthySince?: number;
  alerted: boolean;
  lastPrimary?: string;
  recoveryWorkflowId?: string;
}

export interface CcfHealthWatchProgress extends WatchState {
  healthy?: boolean;
  reason?: string;
  lastCheckedAt?: string;
}

// A probe reports an unreachable node as an observation: its attempts fail only when a worker dies under it.
const { describeCcfNetwork, probeCcfConsensus } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '10s',
  retry: { maximumInterval: '10s', maximumAttempts: 10 },
});
const { sendAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', maximumInterval: '1m', maximumAttempts: 20 },
});

/** Keeps each run's history short; the watch continues as new with its state. */
const CHECKS_PER_RUN = 500;

export async function ccfHealthWatch(rawInput: CcfHealthWatchInput): Promise<CcfHealthWatchProgress> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, ['network', 'pollIntervalMs', 'unhealthyForMs', 'startRecovery', 'maxChecks', 'carried']);
  const network = requireNetworkName(input);
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 200, 3_600_000) ?? 10_000;
  const unhealthyForMs = optionalNumber(input, 'unhealthyForMs', 0, 7 * 24 * 3_600_000) ?? 60_000;
  const startRecovery = optionalBoolean(input, 'startRecovery') ?? false;
  const maxChecks = optionalNumber(input, 'maxChecks', 1, Number.MAX_SAFE_INTEGER);
  const state: CcfHealthWatchProgress = {
    ...((input.carried as WatchState | undefined) ?? { checks: 0, alerted: false }),
  };

  const run = new Procedure(PROCEDURES.ccfHealthWatch.name, network);
  run.setProgress(state);
  try {
    const plan = await describeCcfNetwork({ network });
    for (let checksThisRun = 0; ; checksThisRun++) {
      const probes = await Promise.all(plan.nodes.map((n) => probeCcfConsensus({ network, node: n.id })));
      const health = assessServiceHealth(probes);
      state.checks++;
      state.healthy = health.healthy;
      state.reason = health.reason;
      state.lastCheckedAt = new Date(Date.now()).toISOString();
      run.setPhase(health.healthy ? 'healthy' : state.alerted ? 'down' : 'unhealthy');

      if (health.healthy) {
        if (state.alerted) run.note(`service healthy again at ${state.lastCheckedAt}: ${health.reason}`);
        state.lastPrimary =
          probes.find((p) => p.nodeId !== undefined && p.nodeId === health.primaryId)?.node ?? state.lastPrimary;
        state.unhealthySince = undefined;
        state.alerted = false;
      } else {
        state.unhealthySince ??= Date.now();
        if (!state.alerted && Date.now() - state.unhealthySince >= unhealthyForMs) {
          await declareDisaster(run, plan, health, state, startRecovery);
        }
      }

      if (maxChecks !== undefined && state.checks >= maxChecks) {
        run.succeed();
        return state;
      }
      await sleep(pollIntervalMs);
      if (checksThisRun + 1 >= CHECKS_PER_RUN) {
        const { healthy: _h, reason: _r, lastCheckedAt: _l, ...carried } = state;
        return await continueAsNew<typeof ccfHealthWatch>({ ...(input as unknown as CcfHealthWatchInput), carried });
      }
    }
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}

async function declareDisaster(
  run: Procedure,
  plan: CcfPlan,
  health: ServiceHealth,
  state: WatchState,
  startRecovery: boolean,
): Promise<void> {
  const network = plan.network;
  const downForS = Math.round((Date.now() - state.unhealthySince!) / 1000);
  const summary = `CCF service ${network} is down: ${health.reason} for ${downForS}s`;
  log.warn(summary, { network, reason: health.reason });
  run.decide('declare a disaster', `${health.reason}, for ${downForS}s`);
  state.alerted = true;

  const details = [health.reason];
  if (startRecovery) {
    const workflowId = procedureWorkflowId(PROCEDURES.ccfRecovery.name, network);
    try {
      await startChild<typeof ccfRecovery>(PROCEDURES.ccfRecovery.workflowType, {
        workflowId,
        args: [
          { network, waitForApproval: true, ...(state.lastPrimary ? { lastKnownPrimary: state.lastPrimary } : {}) },
        ],
        // The recovery must outlive this watch's runs.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      state.recoveryWorkflowId = workflowId;
      details.push(`recovery ${workflowId} started; it waits for an operator's approval`);
      run.note(`started ${workflowId}, waiting for approval`);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      details.push(`a recovery (${workflowId}) is already running`);
      run.note(`${workflowId} is already running; not starting another`);
    }
  }

  const { workflowId, runId } = workflowInfo();
  await Promise.all(
    plan.alertWebhooks.map((webhook) =>
      sendAlert({
        webhook,
        // One page per outage, however often this activity is retried.
        idempotencyKey: `${workflowId}/${runId}/${state.unhealthySince}/${webhook}`,
        alert: { network, procedure: PROCEDURES.ccfHealthWatch.name, severity: 'critical', summary, details },
      }),
    ),
  );
  if (plan.alertWebhooks.length === 0) run.note('no alert webhooks configured; the alert went to the worker log only');
}
