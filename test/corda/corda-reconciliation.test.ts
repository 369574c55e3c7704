/**
 * Scheduled reconciliation of a 200-node business network (20 peers each) from a Temporal Schedule, in a
 * worker process: every node reconciled, the per-node gauges on the worker's Prometheus endpoint and one
 * alert on a real webhook receiver reflect the injected failures, and the run's history stays small.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import axios from 'axios';
import type { CordaReconciliationResult } from '../../workflows/corda-reconciliation';
import { partyOf, startTestCordaNetwork, type TestCordaNetwork } from '../helpers/corda';
import { freePort } from '../helpers/ports';
import { startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import { connectTestTemporal, scratchDir, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const NODES = Array.from({ length: 200 }, (_, i) => `n${String(i).padStart(3, '0')}`);
const peersOf = (id: string) => {
  const i = NODES.indexOf(id);
  return Array.from({ length: 20 }, (_, k) => NODES[(i + 1 + k) % NODES.length]!);
};

describe('corda-reconciliation', () => {
  let temporal: TestTemporal;
  let corda: TestCordaNetwork;
  let worker: WorkerProcess | undefined;
  let receiver: http.Server;
  const alerts: { summary: string; details: string[]; key: string }[] = [];

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        alerts.push({
          ...(JSON.parse(body) as { summary: string; details: string[] }),
          key: String(req.headers['idempotency-key']),
        });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    corda = await startTestCordaNetwork({
      name: 'bn200',
      dir: scratchDir('corda-reconciliation'),
      nodes: NODES,
      peersOf,
      concurrency: 20,
      stuckAfterMinutes: 0.05,
      extra: {
        alerts: {
          webhooks: [{ name: 'bno-pager', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }],
        },
      },
    });
    for (const node of corda.network.nodes) node.start();
  }, 120_000);
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await corda?.stop();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await temporal?.close();
  });

  it('reconciles 200 nodes with 20 peers each; gauges and the alert name the injected failures', async () => {
    const net = corda.network;
    // Injected: n003's peer n010 fails; n050 lacks 3 transactions from n055; n150's reconciliation with n151
    // is stuck (killed and stopped); n100's peers are busy twice before it gets through.
    net.node('n003').faults.failingWith.add(partyOf('n010'));
    for (let i = 0; i < 3; i++) net.addTransaction([partyOf('n050'), partyOf('n055')], { missingAt: ['n050'] });
    net.node('n150').faults.stuckWith.add(partyOf('n151'));
    net.node('n101').faults.busy = 2;

    const taskQueue = uniqueTaskQueue('corda-recon');
    const metricsPort = await freePort();
    worker = await startWorkerProcess({
      configFile: corda.configFile,
      taskQueue,
      env: { LEDGER_DR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` },
    });
    const schedule = await temporal.client.schedule.create({
      scheduleId: `corda-reconciliation-${taskQueue}`,
      spec: { intervals: [{ every: '1 day' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'cordaReconciliation',
        taskQueue,
        args: [{ network: 'bn200', pollIntervalMs: 100, busyBackoffMs: 50 }],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    try {
      const started = Date.now();
      await schedule.trigger();
      const workflowId = await waitFor(
        'the scheduled run',
        async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId,
      );
      const handle = temporal.client.workflow.getHandle(workflowId);
      const result = (await handle.result()) as CordaReconciliationResult;
      const seconds = (Date.now() - started) / 1000;
      const events = (await handle.fetchHistory()).events?.length ?? 0;
      process.stdout.write(
        `reconciliation of 200 nodes × 20 peers: ${seconds.toFixed(1)}s, ${events} history events\n`,
      );

      expect(result.nodes).toBe(200);
      expect(result.pairs).toBe(4000);
      expect(result.nodesNotReconciled).toEqual([]);
      expect(result.failed).toEqual([
        { node: 'n003', party: partyOf('n010'), error: `${partyOf('n010')} did not respond: FlowException` },
        { node: 'n150', party: partyOf('n151'), error: 'stuck; killed and stopped' },
      ]);
      expect(result.withDifferences).toEqual([{ node: 'n050', party: partyOf('n055'), missing: 3 }]);
      // Every node scheduled once for all its peers (n101's busy peers retried), the stuck one killed.
      for (const node of net.nodes) expect(node.reconciliations.size).toBe(20);
      expect(net.node('n150').killedFlows).toHaveLength(1);
      expect(net.node('n150').reconciliations.get(partyOf('n151'))!.status).toBe('STOPPED');
      expect(events).toBeLessThan(2000);

      // One alert, naming the failed parties and their errors.
      expect(alerts).toHaveLength(1);
      expect(alerts[0]!.summary).toBe(
        'Corda network bn200: 2 failed reconciliations, 1 with differences, 0 nodes not reconciled',
      );
      expect(alerts[0]!.details).toEqual([
        `n003: reconciliation with ${partyOf('n010')} failed: ${partyOf('n010')} did not respond: FlowException`,
        `n150: reconciliation with ${partyOf('n151')} failed: stuck; killed and stopped`,
        `n050: 3 transactions missing from ${partyOf('n055')}`,
      ]);
      const metrics = await waitFor('reconciliation gauges', async () => {
        const res = await axios.get<string>(`http://127.0.0.1:${metricsPort}/metrics`);
        return res.data.includes('ledger_dr_corda_failed_reconciliations') ? res.data : undefined;
      });
      const gauge = (name: string, node: string) =>
        Number(new RegExp(`^${name}\\{[^}]*node="${node}"[^}]*\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
      expect(gauge('ledger_dr_corda_failed_reconciliations', 'n003')).toBe(1);
      expect(gauge('ledger_dr_corda_failed_reconciliations', 'n150')).toBe(1);
      expect(gauge('ledger_dr_corda_failed_reconciliations', 'n004')).toBe(0);
      expect(gauge('ledger_dr_corda_reconciliations_with_differences', 'n050')).toBe(1);
      expect(gauge('ledger_dr_corda_reconciliations_with_differences', 'n051')).toBe(0);
      expect(worker.output()).toContain('2 failed reconciliations');
    } finally {
      await schedule.delete();
    }
  }, 300_000);
});
