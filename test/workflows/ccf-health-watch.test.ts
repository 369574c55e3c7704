/**
 * The CCF health watch on the real dev server against the simulator: a healthy service stays quiet; a crashed
 * one raises an alert (webhook) once it has been down long enough and starts a recovery waiting for approval.
 */
import { procedureWorkflowId } from '../../contracts/procedures';
import { startProcedure } from '../../shared/start-procedure';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import type { CcfHealthWatchProgress } from '../../workflows/ccf-health-watch';
import { statusQuery } from '../../contracts/status';
import { createCcfTestNetwork, startPreviousService } from '../helpers/ccf';
import { startHttpRecorder } from '../helpers/http-recorder';
import { waitFor } from '../helpers/wait';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

describe('ccf-health-watch', () => {
  let temporal: TestTemporal;
  let sim: CcfSimulator;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
    sim = new CcfSimulator({ replayEntriesPerSecond: 5000 });
    await sim.start();
  });
  afterAll(async () => {
    await sim.stop();
    await temporal?.close();
  });

  it('stays quiet while a majority agrees, then alerts once and starts a recovery that waits for approval', async () => {
    const webhook = await startHttpRecorder();
    const net = await createCcfTestNetwork(sim, {
      name: 'watched',
      nodes: [
        { id: 'n0', lastSignedSeqno: 50 },
        { id: 'n1', lastSignedSeqno: 60 },
        { id: 'n2', lastSignedSeqno: 70 },
      ],
      alerts: { webhooks: [{ name: 'ops', url: webhook.url }] },
    });
    await startPreviousService(sim, net);
    const taskQueue = uniqueTaskQueue('watch');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const watch = await startProcedure(temporal.client, {
        procedure: 'ccfHealthWatch',
        network: net.name,
        taskQueue,
        input: { pollIntervalMs: 300, unhealthyForMs: 1500, startRecovery: true, maxChecks: 40 },
      });
      const progress = async () => (await watch.query(statusQuery)).progress as CcfHealthWatchProgress;

      // Healthy: a majority agrees, n0 (the first node) is primary; nothing is sent.
      const healthy = await waitFor('three checks', async () => {
        const p = await progress();
        return p.checks >= 3 ? p : undefined;
      });
      expect(healthy).toMatchObject({ healthy: true, alerted: false, lastPrimary: 'n0' });
      expect(healthy.reason).toMatch(/^3 of 3 nodes agree that .* is primary in view \d+$/);
      expect(webhook.requests).toHaveLength(0);

      // A minority disagreeing is still healthy; then the whole service crashes.
      sim.setFaults(net.addresses.n2!, { consensusDisagree: true });
      await new Promise((r) => setTimeout(r, 700));
      expect((await progress()).healthy).toBe(true);
      await sim.crashPreviousService();
      const crashedAt = Date.now();

      await webhook.waitForRequests(1, 30_000);
      const alertedAfter = Date.now() - crashedAt;
      expect(alertedAfter).toBeGreaterThanOrEqual(1500);
      const alert = JSON.parse(webhook.requests[0]!.body) as { summary: string; severity: string; details: string[] };
      expect(alert.severity).toBe('critical');
      expect(alert.summary).toMatch(/^CCF service watched is down: no node of 3 reports a primary/);
      expect(alert.details.join('\n')).toContain('waits for an operator');

      // The recovery it started waits for approval, with the last primary as its tie-breaker.
      const recovery = temporal.client.workflow.getHandle(procedureWorkflowId('ccf-recovery', 'watched'));
      const status = await waitFor('the recovery to wait for approval', async () => {
        const s = await recovery.query(statusQuery);
        return s.awaiting.length ? s : undefined;
      });
      expect(status.awaiting[0]).toMatchObject({ what: 'approval to start the recovery', from: 'an operator' });
      const started = await recovery.describe();
      expect(started.status.name).toBe('RUNNING');

      // Still down on later checks: no second alert.
      await new Promise((r) => setTimeout(r, 1500));
      expect(webhook.requests).toHaveLength(1);
      await recovery.terminate('test over');
      await watch.terminate('test over');
    } finally {
      await worker.stop();
      await webhook.close();
    }
  });
});
