/**
 * Fault matrix, Corda rows: each fault the Corda simulator injects, met by corda-recovery, with its expected
 * outcome written down. Every row runs the real workflow on the real dev server against a fresh injection.
 */
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { Client } from 'pg';
import { startProcedure } from '../../shared/start-procedure';
import { createCheckpointTables } from '../../simulators/corda/checkpoints';
import type { CordaBusinessNetwork } from '../../simulators/corda/network';
import type { CordaRecoveryResult } from '../../workflows/corda-recovery';
import { statusQuery } from '../../contracts/status';
import { partyOf, sealVaultArchive, startTestCordaNetwork, type TestCordaNetwork } from '../helpers/corda';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  type TestTemporal,
} from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

interface Row {
  fault: string;
  expected: string;
  inject(net: CordaBusinessNetwork): void;
  /** Acts as a peer's operator when the run asks for a manual-recovery archive. */
  peerExports?: boolean;
  check(result: CordaRecoveryResult, net: CordaBusinessNetwork): void;
}

const B = partyOf('b');
const C = partyOf('c');

const ROWS: Row[] = [
  {
    fault: 'busy peer (MaxIncomingSessionsExceededException twice)',
    expected: 'backs off and retries; reconciles; recovers',
    inject: (net) => {
      net.node('b').faults.busy = 2;
      net.addTransaction([partyOf('a'), B], { missingAt: ['a'] });
    },
    check: (r) => {
      expect(r.report.notes.some((n) => n.includes('busy peers 2 times'))).toBe(true);
      expect(r.recoveries).toMatchObject([{ party: B, recovered: 1, how: 'automatic', remaining: 0 }]);
      expect(r.notRecovered).toEqual([]);
    },
  },
  {
    fault: 'reconciliation already scheduled, and stuck IN_PROGRESS',
    expected: 'awaits the queued one; past stuckAfterMinutes kills and stops it; the run completes naming the party',
    inject: (net) => {
      const a = net.node('a');
      a.start();
      a.faults.stuckWith.add(B);
      a.runFlow('ScheduleReconciliationFlow', { parties: [B] });
      a.stop();
    },
    check: (r, net) => {
      expect(net.node('a').killedFlows).toHaveLength(1);
      expect(net.node('a').reconciliations.get(B)!.status).toBe('STOPPED');
      expect(r.report.decisions.map((d) => d.decision)).toContain(`stop the reconciliation with ${B}`);
      expect(r.notRecovered).toEqual([`${B}: reconciliation stopped (stuck; killed and stopped)`]);
    },
  },
  {
    fault: 'peer fails the reconciliation (no CorDapps, or down)',
    expected: 'completes; the party and its error are named as not reconciled',
    inject: (net) => net.node('a').faults.failingWith.add(C),
    check: (r) => {
      expect(r.notRecovered).toEqual([`${C}: reconciliation failed (${C} did not respond: FlowException)`]);
      expect(r.recoveries).toEqual([]);
    },
  },
  {
    fault: 'automatic recovery: RequestLimitExceededException',
    expected: 'switches to manual recovery; everything recovered',
    inject: (net) => {
      net.node('a').recoveryUsage.requests = 30;
      for (let i = 0; i < 3; i++) net.addTransaction([partyOf('a'), C], { missingAt: ['a'] });
    },
    peerExports: true,
    check: (r) => {
      expect(r.recoveries).toEqual([
        {
          party: C,
          differences: 3,
          recovered: 3,
          how: 'manual',
          remaining: 0,
          detail: 'RequestLimitExceededException',
        },
      ]);
    },
  },
  {
    fault: 'automatic recovery: SizeLimitExceededException (partial recovery)',
    expected: 'keeps what was recovered, recovers the rest manually',
    inject: (net) => {
      for (let i = 0; i < 5; i++) net.addTransaction([partyOf('a'), B], { missingAt: ['a'], bytes: 1_200_000 });
    },
    peerExports: true,
    check: (r, net) => {
      expect(r.recoveries).toEqual([
        { party: B, differences: 5, recovered: 5, how: 'manual', remaining: 0, detail: 'SizeLimitExceededException' },
      ]);
      expect(net.node('a').recoveryUsage.bytes).toBe(2_400_000);
    },
  },
];

describe('fault matrix: Corda', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let corda: TestCordaNetwork;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database node_a');
    const db = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'node_a' });
    await db.connect();
    await createCheckpointTables(db);
    await db.end();
    corda = await startTestCordaNetwork({
      name: 'faults',
      dir: scratchDir('corda-faults'),
      nodes: ['a', 'b', 'c'],
      database: { node: 'a', pg, database: 'node_a' },
      stuckAfterMinutes: 0.05,
    });
    corda.network.node('b').start();
    corda.network.node('c').start();
    taskQueue = uniqueTaskQueue('corda-faults');
    worker = await startTestWorker(temporal, taskQueue, { config: corda.config });
  });
  afterAll(async () => {
    await worker?.stop();
    await corda?.stop();
    await pg?.stop();
    await temporal?.close();
  });

  /** The peer's operator: export for the request, seal with the network's key, report where it arrived. */
  async function deliverArchives(handle: WorkflowHandle): Promise<void> {
    for (;;) {
      const status = await handle.query(statusQuery).catch(() => undefined);
      if (status && ['completed', 'failed'].includes(status.phase)) return;
      const awaited = status?.awaiting.find((w) => w.what.startsWith('the recovery archive from'));
      if (awaited) {
        const [, party, requestId] = /from (.+) for request (\S+)$/.exec(awaited.what)!;
        const peer = corda.network.byParty(party!)!;
        const sealed = sealVaultArchive(
          peer,
          requestId!,
          corda.dir,
          corda.archiveKey,
          path.join(corda.dir, 'incoming', `${requestId}.sealed`),
        );
        await handle.executeUpdate('archiveArrived', { args: [{ actor: 'peer-ops', party, requestId, path: sealed }] });
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  it.each(ROWS)('$fault → $expected', async (row) => {
    const net = corda.network;
    row.inject(net);
    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'faults',
      taskQueue,
      input: { node: 'a', stopNode: true, pollIntervalMs: 100, busyBackoffMs: 50 },
    });
    const delivering = row.peerExports ? deliverArchives(handle) : Promise.resolve();
    const result = (await handle.result()) as CordaRecoveryResult;
    await delivering;
    expect(result.report.outcome).toBe('succeeded');
    row.check(result, net);
    // Faults do not leak into the next row.
    const a = net.node('a');
    a.faults.stuckWith.clear();
    a.faults.failingWith.clear();
    a.recoveryUsage = { requests: 0, bytes: 0 };
    await waitFor('node a running', async () => (a.running ? true : undefined));
  });
});
