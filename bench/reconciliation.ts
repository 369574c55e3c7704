/**
 * Row 3: scheduled reconciliation of a business network of 1,000 simulated Corda nodes with 20 peers each, in
 * a compiled worker process: wall time, node–peer pairs a second, the workflow's history size and the worker's
 * peak memory.
 */
import path from 'node:path';
import type { CordaReconciliationResult } from '../workflows/corda-reconciliation';
import { startTestCordaNetwork } from '../test/helpers/corda';
import { uniqueTaskQueue } from '../test/helpers/temporal';
import { peakRssMb, shippedNodeFlags, startBenchWorker, type BenchContext, type BenchRow } from './harness';

export async function reconciliationFanOut(context: BenchContext): Promise<BenchRow[]> {
  const NODES = Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(4, '0')}`);
  const PEERS = 20;
  const peersOf = (id: string) => {
    const i = NODES.indexOf(id);
    return Array.from({ length: PEERS }, (_, k) => NODES[(i + 1 + k) % NODES.length]!);
  };
  context.log(`  starting ${NODES.length} simulated Corda nodes (SSH shells, Jolokia)`);
  const corda = await startTestCordaNetwork({
    name: 'bench-bn',
    dir: path.join(context.dir, 'corda-bn'),
    nodes: NODES,
    peersOf,
    concurrency: 20,
  });
  for (const node of corda.network.nodes) node.start();
  const taskQueue = uniqueTaskQueue('bench-recon');
  const worker = await startBenchWorker(context, corda.configFile, taskQueue);
  try {
    const idleRss = peakRssMb(worker.child.pid!);
    const started = Date.now();
    const handle = await context.client.workflow.start('cordaReconciliation', {
      taskQueue,
      workflowId: `bench-reconciliation-${taskQueue}`,
      args: [{ network: 'bench-bn', pollIntervalMs: 200, busyBackoffMs: 100 }],
    });
    const result = (await handle.result()) as CordaReconciliationResult;
    const seconds = (Date.now() - started) / 1000;
    const events = (await handle.fetchHistory()).events?.length ?? 0;
    const rss = peakRssMb(worker.child.pid!);
    if (result.pairs !== NODES.length * PEERS || result.nodesNotReconciled.length)
      throw new Error(
        `reconciliation incomplete: ${result.pairs} pairs, ${result.nodesNotReconciled.length} nodes not reconciled`,
      );
    context.log(
      `  ${result.pairs} pairs in ${seconds.toFixed(1)} s, ${events} history events, worker peak ${rss} MB (idle ${idleRss} MB)`,
    );
    return [
      {
        row: '3 reconciliation fan-out',
        metric: '1,000 nodes × 20 peers: wall time',
        value: seconds,
        unit: 's',
        target: '(reported)',
        met: true,
      },
      {
        row: '3 reconciliation fan-out',
        metric: 'node–peer pairs a second',
        value: Math.round(result.pairs / seconds),
        unit: '/s',
        target: '(reported)',
        met: true,
      },
      {
        row: '3 reconciliation fan-out',
        metric: 'largest workflow history',
        value: events,
        unit: 'events',
        target: '< 10,000 events',
        met: events < 10_000,
      },
      {
        row: '3 reconciliation fan-out',
        metric: 'worker peak RSS',
        value: rss,
        unit: 'MB',
        target: '< 300 MB',
        met: rss < 300,
        notes: `compiled worker run as the Dockerfile runs it (${shippedNodeFlags().join(' ') || 'no node flags'}), ${idleRss} MB when ready`,
      },
    ];
  } finally {
    await worker.kill('SIGTERM');
    await corda.stop();
  }
}
