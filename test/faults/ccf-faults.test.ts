/**
 * Fault matrix, CCF rows not covered elsewhere: slow answers, 503s and malformed bodies from the simulator's
 * nodes, met by ccf-recovery. (Unreachable and stuck nodes, shares that fail to combine, an election and a wrong
 * previous identity are rows of test/workflows/ccf-recovery.test.ts; a lost majority of test/workflows/
 * ccf-health-watch.test.ts.) Every row runs a drill recovery on the real dev server against a fresh network.
 */
import { createActivities } from '../../activities';
import { startProcedure } from '../../shared/start-procedure';
import { CcfSimulator, type RecordedExchange } from '../../simulators/ccf/simulator';
import type { CcfRecoveryResult } from '../../workflows/ccf-recovery';
import { createCcfTestNetwork, type CcfTestNetwork } from '../helpers/ccf';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

interface Row {
  fault: string;
  expected: string;
  inject(sim: CcfSimulator, net: CcfTestNetwork): void;
  /** `exchanges`: every request the simulator answered during the run. */
  check(result: CcfRecoveryResult, exchanges: RecordedExchange[]): void;
}

// n1 holds the longest ledger; n2 is a loser that joins afterwards.
const NODES = [
  { id: 'n0', lastSignedSeqno: 90 },
  { id: 'n1', lastSignedSeqno: 140 },
  { id: 'n2', lastSignedSeqno: 110 },
];

const ROWS: Row[] = [
  {
    fault: 'slow answers (every request to n2 takes 1.5 s)',
    expected: 'waited for; n2 still joins; completes',
    inject: (sim, net) => sim.setFaults(net.addresses.n2!, { slowMs: 1500 }),
    check: (r) => {
      expect(r.chosen.node).toBe('n1');
      expect(r.joined.sort()).toEqual(['n0', 'n2']);
    },
  },
  {
    fault: '503 from the node to recover from (its next 8 answers)',
    expected: 'recorded and asked again; completes from the longest ledger',
    inject: (sim, net) => sim.setFaults(net.addresses.n1!, { http5xx: 8 }),
    check: (r, exchanges) => {
      expect(r.chosen.node).toBe('n1');
      expect(r.joined.sort()).toEqual(['n0', 'n2']);
      // Every injected 503 was really served, and the run went on past them.
      const injected = exchanges.filter((e) => e.status === 503 && JSON.stringify(e.responseBody).includes('injected'));
      expect(injected).toHaveLength(8);
    },
  },
  {
    fault: 'a candidate answering 503 to everything',
    expected: 'excluded after the public-recovery timeout, named with HTTP 503; completes from the others',
    inject: (sim, net) => sim.setFaults(net.addresses.n2!, { http5xx: true }),
    check: (r) => {
      expect(r.chosen.node).toBe('n1');
      const n2 = r.candidates.find((c) => c.node === 'n2')!;
      expect(n2.excluded).toMatch(
        /^answering only with errors after 6s \(GET \/node\/state: HTTP 503 ServiceUnavailable/,
      );
      expect(r.joined).toEqual(['n0']);
      expect(r.report.notes).toContain(`n2 excluded: ${n2.excluded}`);
    },
  },
  {
    fault: 'a candidate answering malformed JSON',
    expected: 'excluded after the public-recovery timeout, named with the body it sent; completes from the others',
    inject: (sim, net) => sim.setFaults(net.addresses.n0!, { malformed: true }),
    check: (r) => {
      expect(r.chosen.node).toBe('n1');
      const n0 = r.candidates.find((c) => c.node === 'n0')!;
      expect(n0.excluded).toMatch(
        /^answering only with errors after 6s \(GET \/node\/state: the answer is not JSON: \{"state": "PartOfNetw\)$/,
      );
      expect(r.joined).toEqual(['n2']);
    },
  },
];

describe('fault matrix: CCF', () => {
  let temporal: TestTemporal;
  let sim: CcfSimulator;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
    sim = new CcfSimulator({ replayEntriesPerSecond: 4000 });
    await sim.start();
  });
  afterAll(async () => {
    await sim?.stop();
    await temporal?.close();
  });

  it.each(ROWS.map((row, i) => ({ ...row, i })))('$fault → $expected', async (row) => {
    const net = await createCcfTestNetwork(sim, { name: `faults-${row.i}`, nodes: NODES });
    row.inject(sim, net);
    const exchangesBefore = sim.exchanges().length;
    const taskQueue = uniqueTaskQueue('ccf-faults');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const handle = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: net.name,
        taskQueue,
        input: { drill: true, pollIntervalMs: 200, publicRecoveryTimeoutMs: 6000, joinTimeoutMs: 60_000 },
      });
      const result = (await handle.result()) as CcfRecoveryResult;
      expect(result.report.outcome).toBe('succeeded');
      row.check(result, sim.exchanges().slice(exchangesBefore));
      // The service is open on every node that took part.
      const running = sim.stats().nodes.filter((n) => n.running && Object.values(net.addresses).includes(n.address));
      expect(running.map((n) => n.state)).toEqual(running.map(() => 'PartOfNetwork'));
      expect(running).toHaveLength(1 + result.joined.length);
    } finally {
      await worker.stop();
      sim.clearFaults();
      for (const address of Object.values(net.addresses)) await sim.stopNode(address);
    }
  });

  it('a recovery share submitted again after the shares combined (its worker died before reporting) is done, not an error', async () => {
    const net = await createCcfTestNetwork(sim, { name: 'share-retry', nodes: NODES.slice(0, 1) });
    const taskQueue = uniqueTaskQueue('ccf-faults');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const handle = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: net.name,
        taskQueue,
        input: { drill: true, pollIntervalMs: 200 },
      });
      const result = (await handle.result()) as CcfRecoveryResult;
      // The retry of the threshold-reaching submission, as Temporal would run it on another worker.
      const retry = await createActivities({ config: net.config }).submitCcfRecoveryShare({
        network: net.name,
        node: 'n0',
        role: 'Recover',
        recoveryId: result.recoveryId,
        member: 'm1',
        createdAt: Math.floor(Date.now() / 1000),
      });
      expect(retry).toEqual({
        member: 'm1',
        outcome: 'already-combined',
        message: 'n0 is already PartOfNetwork: the recovery shares have been combined',
      });
    } finally {
      await worker.stop();
      for (const address of Object.values(net.addresses)) await sim.stopNode(address);
    }
  });
});
