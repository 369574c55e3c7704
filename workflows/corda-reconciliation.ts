/**
 * Scheduled LedgerSync reconciliation across one Corda business network: the "small layer" Corda's
 * Collaborative Recovery guide asks Business Network Operators to build. Run it from a Temporal Schedule
 * (overlap SKIP) in the window the network agreed on.
 *
 * Runbook:
 *   1. Read the network: its nodes and each node's peers (all of them, or a random sample on large networks).
 *   2. Reconcile every node with its peers, a bounded number of nodes at a time; each node is one
 *      heartbeating activity, so the history stays small however many node–peer pairs there are.
 *   3. Publish, per node, the gauges `ledger_dr_corda_failed_reconciliations` and
 *      `ledger_dr_corda_reconciliations_with_differences`: LedgerSync's own NumberOfFailedReconciliations and
 *      NumberOfReconciliationsWithDifferences (read over Jolokia), cross-checked against the statuses this run
 *      saw (the gauge is the larger: the metrics cover all the node's peers, the run also the ones it stopped).
 *   4. When either is non-zero anywhere (in this run's statuses or in LedgerSync's metrics): alert (worker log
 *      and webhooks) naming the parties and their errors.
 */
import { log, metricMeter, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, NodeReconciliation } from '../activities';
import { PROCEDURES } from '../contracts/procedures';
import type { ProcedureReport } from '../contracts/report';
import { optionalNumber, rejectUnknownFields, requireNetworkName, requireObject } from './lib/input';
import { asWorkflowFailure, failureMessage, Procedure } from './lib/procedure';

export interface CordaReconciliationInput {
  network: string;
  pollIntervalMs?: number;
  busyBackoffMs?: number;
  /** Per node: how long its reconciliations may take. */
  nodeTimeoutMs?: number;
}

export interface CordaReconciliationResult {
  report: ProcedureReport;
  nodes: number;
  pairs: number;
  failed: { node: string; party: string; error: string }[];
  withDifferences: { node: string; party: string; missing: number }[];
  /** Nodes whose reconciliation could not run at all (unreachable, timed out). */
  nodesNotReconciled: { node: string; error: string }[];
  alerted: boolean;
}

const { describeCordaReconciliation } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 5 },
});
const { sendAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '5s', maximumAttempts: 10 },
});
const { reconcileCordaNode } = proxyActivities<Activities>({
  startToCloseTimeout: '26h',
  heartbeatTimeout: '15s',
  // Most attempts that fail here are a worker dying under a long reconciliation; a retry resumes the queued one.
  retry: { initialInterval: '5s', maximumInterval: '1m', maximumAttempts: 10 },
});

/** Alert bodies stay readable: the first entries, and how many more. */
const MAX_ALERT_LINES = 200;

export async function cordaReconciliation(rawInput: CordaReconciliationInput): Promise<CordaReconciliationResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, ['network', 'pollIntervalMs', 'busyBackoffMs', 'nodeTimeoutMs']);
  const network = requireNetworkName(input);
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 10, 600_000) ?? 30_000;
  const busyBackoffMs = optionalNumber(input, 'busyBackoffMs', 10, 3_600_000) ?? 60_000;
  const nodeTimeoutMs = optionalNumber(input, 'nodeTimeoutMs', 1000, 24 * 3_600_000) ?? 4 * 3_600_000;
  const run = new Procedure(PROCEDURES.cordaReconciliation.name, network);

  try {
    const plan = await run.step(
      'read-plan',
      'Read the business network',
      () => describeCordaReconciliation({ network }),
      (p) => `${p.nodes.length} nodes`,
    );
    const sample = plan.reconciliation.sampleSize;
    // Each node's activity reads its own peers (and samples them with this run's seed): the history holds counts.
    const work = plan.nodes
      .filter((n) => n.peers > 0)
      .map((n) => ({ node: n.id, pairs: sample ? Math.min(sample, n.peers) : n.peers }));
    const sampleSeed = workflowInfo().runId;
    if (sample) run.decide(`reconcile with a random ${sample} peers per node`, 'reconciliation.sampleSize is set');

    const outcomes: (NodeReconciliation | { node: string; error: string })[] = [];
    const progress = { done: 0, of: work.length };
    run.setProgress(progress);
    await run.step(
      'reconcile',
      `Reconcile ${work.length} nodes, ${plan.reconciliation.concurrency} at a time`,
      async () => {
        const queue = [...work];
        const lane = async () => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            try {
              outcomes.push(
                await reconcileCordaNode({
                  network,
                  node: next.node,
                  ...(sample ? { sampleSize: sample, sampleSeed } : {}),
                  pollIntervalMs,
                  busyBackoffMs,
                  timeoutMs: nodeTimeoutMs,
                }),
              );
            } catch (err) {
              outcomes.push({ node: next.node, error: failureMessage(err) });
            }
            progress.done++;
          }
        };
        await Promise.all(Array.from({ length: Math.min(plan.reconciliation.concurrency, work.length) }, lane));
      },
      () => `${work.reduce((n, w) => n + w.pairs, 0)} node–peer pairs`,
    );

    const result: CordaReconciliationResult = {
      report: run.report,
      nodes: work.length,
      pairs: work.reduce((n, w) => n + w.pairs, 0),
      failed: [],
      withDifferences: [],
      nodesNotReconciled: [],
      alerted: false,
    };
    const failedGauge = metricMeter.createGauge(
      'ledger_dr_corda_failed_reconciliations',
      'int',
      'reconciliations',
      'LedgerSync reconciliations that failed in the last scheduled run, per node',
    );
    const differencesGauge = metricMeter.createGauge(
      'ledger_dr_corda_reconciliations_with_differences',
      'int',
      'reconciliations',
      'LedgerSync reconciliations that found differences in the last scheduled run, per node',
    );
    const metricsUnread: string[] = [];
    const beyondRun: string[] = [];
    for (const outcome of outcomes) {
      if ('error' in outcome) {
        result.nodesNotReconciled.push(outcome);
        continue;
      }
      const failed = outcome.results.filter((r) => r.status === 'FAILED' || r.status === 'STOPPED');
      const different = outcome.results.filter((r) => r.status === 'DIFFERENCES_FOUND');
      for (const r of failed) result.failed.push({ node: outcome.node, party: r.party, error: r.error ?? r.status });
      for (const r of different)
        result.withDifferences.push({ node: outcome.node, party: r.party, missing: r.missing });
      const metrics = outcome.ledgerSync && 'mbean' in outcome.ledgerSync ? outcome.ledgerSync : undefined;
      // The metrics count every reconciliation of the node (not only this run's peers); this run adds those
      // it had to stop, which LedgerSync counts as STOPPED rather than failed.
      failedGauge.set(Math.max(metrics?.failed ?? 0, failed.length), { network, node: outcome.node });
      differencesGauge.set(Math.max(metrics?.withDifferences ?? 0, different.length), { network, node: outcome.node });
      const failedByNode = failed.filter((r) => r.status === 'FAILED').length;
      if (metrics && (metrics.failed < failedByNode || metrics.withDifferences < different.length))
        run.note(
          `${outcome.node}: LedgerSync's metrics (${metrics.failed} failed, ${metrics.withDifferences} with differences) are below what its statuses show (${failedByNode}, ${different.length})`,
        );
      if (outcome.ledgerSync && 'unavailable' in outcome.ledgerSync)
        metricsUnread.push(`${outcome.node}: ${outcome.ledgerSync.unavailable}`);
      // LedgerSync knows of failures or differences with peers this run did not reconcile (a sample, say).
      if (metrics && (metrics.failed > failedByNode || metrics.withDifferences > different.length))
        beyondRun.push(
          `${outcome.node}: LedgerSync counts ${metrics.failed} failed reconciliations and ${metrics.withDifferences} with differences (this run saw ${failedByNode} and ${different.length})`,
        );
    }

    if (metricsUnread.length)
      run.note(
        `LedgerSync metrics not read on ${metricsUnread.length} node(s), gauges from their statuses (${metricsUnread.slice(0, 3).join('; ')})`,
      );

    if (result.failed.length || result.withDifferences.length || result.nodesNotReconciled.length || beyondRun.length) {
      const summary =
        `Corda network ${network}: ${result.failed.length} failed reconciliations, ` +
        `${result.withDifferences.length} with differences, ${result.nodesNotReconciled.length} nodes not reconciled` +
        (beyondRun.length ? `; LedgerSync's metrics report more on ${beyondRun.length} node(s)` : '');
      const details = [
        ...result.failed.map((f) => `${f.node}: reconciliation with ${f.party} failed: ${f.error}`),
        ...result.withDifferences.map((d) => `${d.node}: ${d.missing} transactions missing from ${d.party}`),
        ...result.nodesNotReconciled.map((n) => `${n.node}: not reconciled: ${n.error}`),
        ...beyondRun,
      ];
      const shown = details.slice(0, MAX_ALERT_LINES);
      if (details.length > shown.length)
        shown.push(`… and ${details.length - shown.length} more (see the run's result)`);
      log.warn(summary, { network, failed: result.failed.length, withDifferences: result.withDifferences.length });
      await run.step(
        'alert',
        'Alert the operators',
        async () => {
          const { workflowId, runId } = workflowInfo();
          await Promise.all(
            plan.alertWebhooks.map((webhook) =>
              sendAlert({
                webhook,
                idempotencyKey: `${workflowId}/${runId}/${webhook}`,
                alert: {
                  network,
                  procedure: PROCEDURES.cordaReconciliation.name,
                  severity: 'warning',
                  summary,
                  details: shown,
                },
              }),
            ),
          );
          return plan.alertWebhooks.length;
        },
        (n) => (n ? `${n} webhooks` : 'worker log only (no webhooks configured)'),
      );
      result.alerted = true;
    }
    run.succeed();
    return result;
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
