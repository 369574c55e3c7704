/**
 * Corda node recovery after a restore from a backup or an asynchronous replica (Corda's Collaborative
 * Recovery guidance, or 4.12's LedgerRecoveryFlow).
 *
 * Runbook:
 *   1. Read the network; make sure the node is stopped (stop it only if asked). A running node is refused
 *      before anything changes.
 *   2. Archive the five flow-checkpoint tables with a checksum; move artemis/ and brokers/ aside.
 *   3. Delete the archived rows in one transaction and start the node; or, gentler, start it with
 *      --pause-all-flows, kill each paused flow through the shell and restart it. Wait for STARTED (Jolokia).
 *   4. 4.12: LedgerRecoveryFlow over the configured window, as a dry run, then for real. Done.
 *   5. Otherwise reconcile with the node's peers (LedgerSync), backing off when a peer is busy; a
 *      reconciliation stuck IN_PROGRESS is killed and stopped.
 *   6. Differences: refresh the statuses (in-flight transactions are false positives), read again. For each
 *      party still different: automatic recovery; on its limits, manual recovery with an archive the peer
 *      exports and seals (an operator tells the run where it arrived).
 *   7. Reconcile again with the parties that had differences; archives are deleted only when that is clean.
 */
import { ApplicationFailure } from '@temporalio/common';
import { proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities, LedgerRecoveryResult, NodeReconciliation } from '../activities';
import { PROCEDURES } from '../contracts/procedures';
import { archiveArrivedUpdate, type ArchiveArrived } from '../contracts/updates';
import type { ProcedureReport } from '../contracts/report';
import {
  badInput,
  optionalBoolean,
  optionalNumber,
  rejectUnknownFields,
  requireNetworkName,
  requireObject,
} from './lib/input';
import { samplePeers } from './lib/corda';
import { conditionWithin, pollUntil } from './lib/poll';
import { asWorkflowFailure, Procedure, runStamp } from './lib/procedure';

export interface CordaRecoveryInput {
  network: string;
  node: string;
  /** Stop the node with its stop command first; without it, a running node is refused. */
  stopNode?: boolean;
  /**
   * `delete` (default): archive, then delete the checkpoint rows in one transaction. `pause-and-kill`: archive,
   * start the node with --pause-all-flows, kill each paused flow through the shell, restart normally.
   */
  checkpointCleanup?: 'delete' | 'pause-and-kill';
  pollIntervalMs?: number;
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
  reconciliationTimeoutMs?: number;
  /** How long to wait for a peer's manual-recovery archive. */
  archiveTimeoutMs?: number;
  /** First back-off when a peer is busy (doubles each time). */
  busyBackoffMs?: number;
}

export interface PartyRecovery {
  party: string;
  differences: number;
  recovered: number;
  how: 'automatic' | 'manual' | 'ledger-recovery' | 'none';
  remaining: number;
  detail?: string;
}

export interface CordaRecoveryResult {
  report: ProcedureReport;
  checkpointsRemoved: { byStatus: Record<string, number>; rows: Record<string, number>; archive: string };
  quarantined: string[];
  partiesReconciled: string[];
  falsePositives: string[];
  recoveries: PartyRecovery[];
  notRecovered: string[];
  ledgerRecovery?: { dryRun: LedgerRecoveryResult; result: LedgerRecoveryResult };
}

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 5 },
});
// Table exports of a node with many checkpoints take a while; heartbeats tell a dead worker from a slow export.
const data = proxyActivities<Activities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '2s', maximumAttempts: 5 },
});
// A node's reconciliation waits on its peers: long, with heartbeats.
const reconciliation = proxyActivities<Activities>({
  startToCloseTimeout: '26h',
  heartbeatTimeout: '15s',
  // Most attempts that fail here are a worker dying under a long reconciliation; a retry resumes the queued one.
  retry: { initialInterval: '5s', maximumInterval: '1m', maximumAttempts: 10 },
});
// Polled: "not yet" is an answer.
const probe = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 1 },
});

const HOUR = 3_600_000;

export async function cordaRecovery(rawInput: CordaRecoveryInput): Promise<CordaRecoveryResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, [
    'network',
    'node',
    'stopNode',
    'checkpointCleanup',
    'pollIntervalMs',
    'stopTimeoutMs',
    'startTimeoutMs',
    'reconciliationTimeoutMs',
    'archiveTimeoutMs',
    'busyBackoffMs',
  ]);
  const network = requireNetworkName(input);
  if (typeof input.node !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(input.node)) {
    throw badInput('node', 'expected the id of a node of the network');
  }
  const nodeId = input.node;
  const stopNode = optionalBoolean(input, 'stopNode') ?? false;
  const cleanup = input.checkpointCleanup ?? 'delete';
  if (cleanup !== 'delete' && cleanup !== 'pause-and-kill') {
    throw badInput('checkpointCleanup', 'expected delete or pause-and-kill');
  }
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 50, 60_000) ?? 2000;
  const stopTimeoutMs = optionalNumber(input, 'stopTimeoutMs', 1000, HOUR) ?? 10 * 60_000;
  const startTimeoutMs = optionalNumber(input, 'startTimeoutMs', 1000, HOUR) ?? 15 * 60_000;
  const reconciliationTimeoutMs = optionalNumber(input, 'reconciliationTimeoutMs', 1000, 24 * HOUR) ?? 2 * HOUR;
  const archiveTimeoutMs = optionalNumber(input, 'archiveTimeoutMs', 1000, 14 * 24 * HOUR) ?? 3 * 24 * HOUR;
  const busyBackoffMs = optionalNumber(input, 'busyBackoffMs', 10, HOUR) ?? 30_000;
  const run = new Procedure(PROCEDURES.cordaRecovery.name, network);
  const workId = runStamp();

  const arrived = new Map<string, ArchiveArrived>();
  setHandler(
    archiveArrivedUpdate,
    (a) => {
      arrived.set(a.requestId, a);
      run.operatorAction(a.actor, `reported the recovery archive of ${a.party}`, a.path);
      run.received(awaitingArchive(a.party, a.requestId));
      return `archive for ${a.requestId} accepted`;
    },
    {
      validator: (a) => {
        if (typeof a.actor !== 'string' || a.actor.trim() === '') throw new Error('actor: required');
        if (typeof a.path !== 'string' || !a.path.startsWith('/') || a.path.includes('\0'))
          throw new Error('path: expected the absolute path where the sealed archive arrived');
        if (!run.isAwaiting(awaitingArchive(a.party, a.requestId)))
          throw new Error(`no archive is awaited from ${a.party} for request ${a.requestId}`);
      },
    },
  );
  const until = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number) =>
    pollUntil(what, check, { timeoutMs, intervalMs: pollIntervalMs });

  try {
    const plan = await run.step(
      'read-plan',
      'Read the network from configuration',
      () => acts.describeCordaNetwork({ network }),
      (p) => `${p.generation}, ${p.nodes.length} nodes`,
    );
    const me = plan.nodes.find((n) => n.id === nodeId);
    if (!me) throw ApplicationFailure.nonRetryable(`input.node: no node "${nodeId}" in ${network}`, 'InvalidInput');

    await run.step(
      'ensure-stopped',
      'Make sure the node is stopped',
      async () => {
        const first = await acts.checkCordaNodeStopped({ network, node: nodeId });
        if (first.stopped) return first.evidence.join('; ');
        if (!stopNode) {
          throw ApplicationFailure.nonRetryable(
            `node ${nodeId} is running (${first.evidence.join('; ')}); stop it first, or start the recovery with stopNode: true. Nothing was changed.`,
            'Refused',
          );
        }
        const stop = await acts.runNodeCommand({ network, node: nodeId, command: 'stop' });
        if (!stop.succeeded) run.note(`the stop command exited ${stop.exitCode}: ${stop.stderrTail.trim()}`);
        const stopped = await until(
          `node ${nodeId} stopped`,
          async () => {
            const check = await probe.checkCordaNodeStopped({ network, node: nodeId });
            return check.stopped ? check : undefined;
          },
          stopTimeoutMs,
        );
        return `stopped by ledger-dr: ${stopped.evidence.join('; ')}`;
      },
      (d) => d,
    );

    const archive = await run.step(
      'archive-checkpoints',
      'Archive the flow-checkpoint tables',
      () => data.archiveCordaCheckpoints({ network, node: nodeId, workId }),
      (a) => `${a.flowIds} flows, ${Object.values(a.rows).reduce((x, y) => x + y, 0)} rows, SHA-256 ${a.sha256}`,
    );
    run.report.backups.push({
      what: 'flow checkpoints',
      location: archive.file,
      bytes: archive.bytes,
      sha256: archive.sha256,
    });
    const quarantine = await run.step(
      'quarantine-queues',
      'Move the message-queue folders aside',
      () => acts.quarantineCordaQueues({ network, node: nodeId, workId }),
      (q) => (q.moved.length ? q.moved.map((m) => m.to).join(', ') : 'no queue folders'),
    );
    for (const m of quarantine.moved) run.report.backups.push({ what: `quarantined ${m.from}`, location: m.to });

    const waitStarted = () =>
      until(
        `node ${nodeId} STARTED`,
        async () => ((await probe.cordaNodeStatus({ network, node: nodeId })) === 'STARTED' ? true : undefined),
        startTimeoutMs,
      );
    const startNode = async () => {
      const start = await acts.runNodeCommand({ network, node: nodeId, command: 'start' });
      if (!start.succeeded) {
        throw ApplicationFailure.nonRetryable(
          `the start command of ${nodeId} exited ${start.exitCode}: ${start.stderrTail.trim()}`,
          'StartFailed',
        );
      }
      return waitStarted();
    };
    let removed: Record<string, number>;
    if (cleanup === 'delete') {
      removed = await run.step(
        'delete-checkpoints',
        'Delete the archived checkpoints in one transaction',
        () => data.deleteCordaCheckpoints({ network, node: nodeId, workId }),
        describeCounts,
      );
      await run.step('start-node', 'Start the node and wait for STARTED', startNode, () => 'STARTED');
    } else {
      // The gentler way: the node itself removes the checkpoints of the flows it is told to kill.
      await run.step(
        'start-paused',
        'Start the node with --pause-all-flows',
        async () => {
          await acts.startCordaNodePaused({ network, node: nodeId });
          return waitStarted();
        },
        () => 'STARTED, flows paused',
      );
      await run.step(
        'kill-paused-flows',
        'Kill every paused flow through the shell',
        () => data.killCordaPausedFlows({ network, node: nodeId, workId }),
        (k) => `${k.killed} killed, ${k.gone} already gone`,
      );
      const left = await acts.countCordaCheckpoints({ network, node: nodeId });
      removed = Object.fromEntries(Object.entries(archive.rows).map(([t, n]) => [t, n - (left[t] ?? 0)]));
      if (Object.values(left).some((n) => n > 0))
        run.note(`checkpoint rows left after killing: ${describeCounts(left)}`);
      await run.step(
        'restart-node',
        'Restart the node with flow processing enabled',
        async () => {
          await acts.runNodeCommand({ network, node: nodeId, command: 'stop' });
          await until(
            `node ${nodeId} stopped`,
            async () => ((await probe.checkCordaNodeStopped({ network, node: nodeId })).stopped ? true : undefined),
            stopTimeoutMs,
          );
          return startNode();
        },
        () => 'STARTED',
      );
    }

    const result: CordaRecoveryResult = {
      report: run.report,
      checkpointsRemoved: { byStatus: archive.byStatus, rows: removed, archive: archive.file },
      quarantined: quarantine.moved.map((m) => m.to),
      partiesReconciled: [],
      falsePositives: [],
      recoveries: [],
      notRecovered: [],
    };

    if (plan.generation === 'ledger-recovery') {
      const untilTime = new Date(Date.now()).toISOString();
      const fromTime = new Date(Date.now() - plan.recoveryWindowHours * HOUR).toISOString();
      const window = { network, node: nodeId, peers: me.peers, fromTime, untilTime };
      const dryRun = await run.step(
        'ledger-recovery-dry-run',
        'LedgerRecoveryFlow, dry run',
        () => acts.runCordaLedgerRecovery({ ...window, dryRun: true }),
        (r) => `${r.totalRecoveredTransactions} transactions would be recovered`,
      );
      const real = await run.step(
        'ledger-recovery',
        'LedgerRecoveryFlow',
        () => acts.runCordaLedgerRecovery({ ...window, dryRun: false }),
        (r) => `${r.totalRecoveredTransactions} transactions recovered, ${r.totalErrors} errors`,
      );
      result.ledgerRecovery = { dryRun, result: real };
      result.recoveries.push({
        party: me.peers.join('; '),
        differences: dryRun.totalRecoveredTransactions,
        recovered: real.totalRecoveredTransactions,
        how: 'ledger-recovery',
        remaining: real.totalErrors,
      });
      if (real.totalErrors > 0) run.note(`LedgerRecoveryFlow reported ${real.totalErrors} errors`);
      run.succeed();
      return result;
    }

    /** LedgerSync with `parties`, as one heartbeating activity (see reconcileCordaNode). */
    const reconcile = async (parties: string[]): Promise<Map<string, NodeReconciliation['results'][number]>> => {
      const outcome = await reconciliation.reconcileCordaNode({
        network,
        node: nodeId,
        parties,
        pollIntervalMs,
        busyBackoffMs,
        timeoutMs: reconciliationTimeoutMs,
      });
      if (outcome.busy) run.note(`the node reported busy peers ${outcome.busy} times; it backed off`);
      for (const party of outcome.stopped) {
        run.decide(
          `stop the reconciliation with ${party}`,
          `IN_PROGRESS for over ${plan.reconciliation.stuckAfterMinutes} minutes: killed and stopped`,
        );
      }
      return new Map(outcome.results.map((r) => [r.party, r]));
    };

    const peers = samplePeers(me.peers, plan.reconciliation.sampleSize);
    if (peers.length < me.peers.length) {
      run.decide(
        `reconcile with ${peers.length} of ${me.peers.length} peers, at random`,
        'reconciliation.sampleSize is set',
      );
    }
    const first = await run.step(
      'reconcile',
      `Reconcile with ${peers.length} peers`,
      () => reconcile(peers),
      (v) => summarise(v),
    );
    result.partiesReconciled = peers;
    for (const v of first.values())
      if (v.status === 'FAILED' || v.status === 'STOPPED')
        result.notRecovered.push(`${v.party}: reconciliation ${v.status.toLowerCase()} (${v.error ?? 'no detail'})`);
    let different = [...first.values()].filter((v) => v.status === 'DIFFERENCES_FOUND');
    if (different.length === 0) {
      run.succeed();
      return result;
    }

    const refreshed = await run.step(
      'refresh',
      'Refresh the reconciliation statuses (in-flight transactions are false positives)',
      async () => {
        await acts.refreshCordaReconciliation({ network, node: nodeId });
        return acts.cordaReconciliationStatuses({ network, node: nodeId });
      },
      (v) => `${v.filter((x) => x.status === 'DIFFERENCES_FOUND').length} still different`,
    );
    const stillDifferent = new Map(refreshed.filter((v) => v.status === 'DIFFERENCES_FOUND').map((v) => [v.party, v]));
    result.falsePositives = different.filter((v) => !stillDifferent.has(v.party)).map((v) => v.party);
    different = different.filter((v) => stillDifferent.has(v.party)).map((v) => stillDifferent.get(v.party)!);

    const archives: string[] = [];
    for (const view of different) {
      const recovery: PartyRecovery = {
        party: view.party,
        differences: view.missing,
        recovered: 0,
        how: 'automatic',
        remaining: view.missing,
      };
      result.recoveries.push(recovery);
      const auto = await run.step(
        'automatic-recovery',
        `Recover ${view.missing} transactions from ${view.party} automatically`,
        () => acts.recoverCordaAutomatically({ network, node: nodeId, party: view.party }),
        (a) => (a.outcome === 'recovered' ? `${a.transactions} recovered` : `${a.exception}: switching to manual`),
      );
      if (auto.outcome === 'recovered') {
        recovery.recovered = auto.transactions;
        continue;
      }
      run.decide(`recover from ${view.party} manually`, auto.message);
      recovery.how = 'manual';
      recovery.detail = auto.exception;
      const requestId = await acts.initiateCordaManualRecovery({ network, node: nodeId, party: view.party });
      const archive = await run.step(
        'manual-recovery',
        `Manual recovery from ${view.party}: wait for its sealed export, then import it`,
        async () => {
          const what = awaitingArchive(view.party, requestId);
          run.await(
            what,
            `the operator of ${view.party} (ExportTransactionsFlow requestId: ${requestId}, sealed with the network's archive key)`,
          );
          if (!(await conditionWithin(() => arrived.has(requestId), archiveTimeoutMs))) {
            throw ApplicationFailure.nonRetryable(
              `no archive arrived from ${view.party} for request ${requestId}`,
              'TimedOut',
            );
          }
          const a = arrived.get(requestId)!;
          recovery.recovered = await data.importCordaRecoveryArchive({
            network,
            node: nodeId,
            requestId,
            archive: a.path,
            workId,
          });
          return a.path;
        },
        () => `${recovery.recovered} transactions imported`,
      );
      archives.push(archive);
    }

    const parties = different.map((v) => v.party);
    if (parties.length > 0) {
      const again = await run.step(
        'reconcile-again',
        'Reconcile again with the parties that had differences',
        () => reconcile(parties),
        (v) => summarise(v),
      );
      let clean = true;
      for (const r of result.recoveries) {
        const v = again.get(r.party);
        r.remaining = v?.status === 'DIFFERENCES_NOT_FOUND' ? 0 : (v?.missing ?? r.remaining);
        // What the ledger now has, whatever the flows reported (an import retried after a crash reports 0).
        r.recovered = r.differences - r.remaining;
        if (r.remaining > 0 || v?.status !== 'DIFFERENCES_NOT_FOUND') {
          clean = false;
          result.notRecovered.push(
            `${r.party}: ${r.remaining} transactions still missing (${v?.status ?? 'no status'})`,
          );
        }
      }
      if (clean) {
        for (const archive of archives) await acts.discardCordaRecoveryArchive({ network, archive });
        if (archives.length) run.note('the peers may now delete their exported archives too');
      } else if (archives.length) {
        run.note(`recovery archives kept (differences remain): ${archives.join(', ')}`);
      }
    }
    run.succeed();
    return result;
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}

function awaitingArchive(party: string, requestId: string): string {
  return `the recovery archive from ${party} for request ${requestId}`;
}

function describeCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
}

function summarise(views: Map<string, { status: string }>): string {
  const counts = new Map<string, number>();
  for (const v of views.values()) counts.set(v.status, (counts.get(v.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}
