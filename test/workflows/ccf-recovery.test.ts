/**
 * The CCF recovery workflow on the real dev server, against the CCF simulator over real HTTPS, with nodes
 * launched through the operator's launcher command templates (the simulator's cchost stand-in).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createDataConverter } from '../../shared/codec';
import { parseConfig } from '../../shared/config';
import { createServiceIdentity } from '../../shared/pki';
import { procedureWorkflowId } from '../../contracts/procedures';
import { ProcedureAlreadyRunningError, startProcedure } from '../../shared/start-procedure';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import type { CcfRecoveryProgress, CcfRecoveryResult } from '../../workflows/ccf-recovery';
import { statusQuery } from '../../contracts/status';
import { loadCcfApi } from '../helpers/ccf-openapi';
import { createCcfTestNetwork, digestTree, TestMember, type CcfTestNetwork } from '../helpers/ccf';
import { startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import { waitFor } from '../helpers/wait';
import {
  connectTestTemporal,
  startTestWorker,
  uniqueTaskQueue,
  TEST_ENCRYPTION,
  workflowBundlePath,
  type TestTemporal,
} from '../helpers/temporal';

const fast = { pollIntervalMs: 200, publicRecoveryTimeoutMs: 60_000, joinTimeoutMs: 60_000 };

describe('ccf-recovery', () => {
  let temporal: TestTemporal;
  let sim: CcfSimulator;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    sim = new CcfSimulator({ replayEntriesPerSecond: 2000 });
    await sim.start();
  });
  afterAll(async () => {
    // Every exchange of every test in this file, checked against CCF's own OpenAPI files.
    const problems = loadCcfApi().validateAll(sim.exchanges());
    await sim.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  /** Runs a recovery on an in-process worker and returns its result. */
  async function recover(net: CcfTestNetwork, input: object) {
    const taskQueue = uniqueTaskQueue('ccf');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const handle = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: net.name,
        taskQueue,
        input,
      });
      return { handle, result: (await handle.result()) as CcfRecoveryResult };
    } finally {
      await worker.stop();
    }
  }

  it('recovers three nodes from the longest ledger, opens the service and hands out the new certificate', async () => {
    const net = await createCcfTestNetwork(sim, {
      name: 'three',
      nodes: [
        { id: 'n0', lastSignedSeqno: 120 },
        { id: 'n1', lastSignedSeqno: 340, snapshotSeqno: 200 },
        { id: 'n2', lastSignedSeqno: 260 },
      ],
    });
    const before = net.originalDigests();
    const { handle, result } = await recover(net, { ...fast, drill: true });

    expect(result.chosen).toMatchObject({ node: 'n1', lastSignedSeqno: 340 });
    expect(result.report.decisions.map((d) => d.reason).join()).toContain(
      'highest last_signed_seqno 340 (others: n0 120, n2 260)',
    );
    expect(result.joined.sort()).toEqual(['n0', 'n2']);
    expect(result.recoveryCount).toBe(3); // the fixture's service had been recovered twice before
    expect(readFileSync(net.certificateDestination, 'utf8')).toBe(result.serviceCertificate);
    expect(result.serviceCertificate).toContain('BEGIN CERTIFICATE');

    // The service really is open, as the simulator sees it.
    const stats = sim.stats();
    expect(
      stats.nodes.filter((n) => n.running && Object.values(net.addresses).includes(n.address)).map((n) => n.state),
    ).toEqual(['PartOfNetwork', 'PartOfNetwork', 'PartOfNetwork']);
    // One Recover start per surviving ledger; the two others restarted once as Join nodes.
    expect(stats.starts[net.addresses.n0!]).toEqual({ Recover: 1, Join: 1 });
    expect(stats.starts[net.addresses.n1!]).toEqual({ Recover: 1, Join: 0 });
    expect(stats.starts[net.addresses.n2!]).toEqual({ Recover: 1, Join: 1 });

    // The originals were never modified, and the backups hold exactly what they held.
    expect(net.originalDigests()).toEqual(before);
    const backup = path.join(net.backupDirectory, result.recoveryId);
    const manifest = JSON.parse(readFileSync(path.join(backup, 'MANIFEST.json'), 'utf8')) as { node: string }[];
    expect(manifest.map((m) => m.node)).toEqual(expect.arrayContaining(['n0', 'n1', 'n2']));
    expect(Object.values(digestTree(path.join(backup, 'n1', 'ledger')))).toEqual(
      Object.entries(before)
        .filter(([file]) => file.startsWith(path.join('nodes', 'n1', 'ledger')))
        .map(([, digest]) => digest),
    );

    const steps = result.report.steps.map((s) => `${s.name}:${s.outcome}`);
    expect(steps).toEqual([
      'read-plan:succeeded',
      'preflight:succeeded',
      'backup:succeeded',
      'approval:skipped',
      'start-recover-nodes:succeeded',
      'public-recovery:succeeded',
      'pick-ledger:succeeded',
      'stop-other-candidates:succeeded',
      'join-nodes:succeeded',
      'member-acks:succeeded',
      'propose-open:succeeded',
      'ballots:succeeded',
      'recovery-shares:succeeded',
      'private-recovery:succeeded',
      'check-recovery-count:succeeded',
      'distribute-certificate:succeeded',
    ]);
    for (const step of result.report.steps) expect(step.endedAt! >= step.startedAt).toBe(true);
    expect(result.report.durationMs).toBeGreaterThan(0);

    // The run's history replays against the current workflow code without a determinism error.
    await Worker.runReplayHistory(
      {
        workflowBundle: { codePath: workflowBundlePath() },
        dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
      },
      await handle.fetchHistory(),
    );
  });

  it('completes with five nodes when one is unreachable and one is stuck, and names both', async () => {
    const net = await createCcfTestNetwork(sim, {
      name: 'five',
      nodes: [
        { id: 'n0', lastSignedSeqno: 150 },
        { id: 'n1', lastSignedSeqno: 180 },
        { id: 'n2', lastSignedSeqno: 170 },
        { id: 'n3', lastSignedSeqno: 400 },
        { id: 'n4', lastSignedSeqno: 500 },
      ],
    });
    sim.setFaults(net.addresses.n3!, { unreachable: true });
    sim.setFaults(net.addresses.n4!, { stuckReadingPublicLedger: true });
    const { result } = await recover(net, { ...fast, drill: true, publicRecoveryTimeoutMs: 6000 });

    expect(result.chosen.node).toBe('n1');
    expect(result.joined.sort()).toEqual(['n0', 'n2']);
    const excluded = Object.fromEntries(result.candidates.filter((c) => c.excluded).map((c) => [c.node, c.excluded]));
    expect(Object.keys(excluded).sort()).toEqual(['n3', 'n4']);
    expect(excluded.n3).toMatch(/^unreachable after 6s/);
    expect(excluded.n4).toMatch(/^still ReadingPublicLedger at seqno \d+ after 6s/);
    expect(result.report.notes.filter((n) => /^n[34] excluded/.test(n))).toHaveLength(2);
    sim.clearFaults();
  });

  it('asks for the shares again when they fail to combine, and completes', async () => {
    const net = await createCcfTestNetwork(sim, {
      name: 'badshare',
      nodes: [
        { id: 'n0', lastSignedSeqno: 90 },
        { id: 'n1', lastSignedSeqno: 80 },
      ],
    });
    // A bad combination, and an election while the private ledger is read: the run rides out both.
    sim.setFaults('service', { failNextShareCombination: 1, electionDuringPrivateRecovery: true });
    const { result } = await recover(net, { ...fast, drill: true });
    expect(result.report.outcome).toBe('succeeded');
    expect(result.report.notes.join('\n')).toMatch(/round 1: the shares did not combine/);
    expect(result.report.decisions.map((d) => d.decision)).toContain('ask every member for their share again');
    expect(result.recoveryCount).toBe(3);
    // The election happened: the recovered service (view 4 + 2) moved on to view 7.
    const chosen = sim.stats().nodes.find((n) => n.address === net.addresses.n0 && n.running);
    expect(chosen?.view).toBe(7);
    sim.clearFaults();
  });

  it('fails with a clear message when the previous identity is wrong, leaving the backups intact', async () => {
    const dir = path.join(__dirname, '..', '..', '.data', 'test');
    const wrong = path.join(dir, `wrong-identity-${Date.now()}.pem`);
    writeFileSync(wrong, (await createServiceIdentity()).certificatePem);
    const net = await createCcfTestNetwork(sim, {
      name: 'wrongid',
      nodes: [{ id: 'n0', lastSignedSeqno: 60 }],
      previousIdentityFile: wrong,
    });
    const taskQueue = uniqueTaskQueue('ccf');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const handle = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: net.name,
        taskQueue,
        input: { ...fast, drill: true },
      });
      const failure = await handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.message).toMatch(/^transition_service_to_open ended Failed: .*previous service identity/i);
      expect(cause.message).toContain('backups');
      expect(cause.nonRetryable).toBe(true);

      const status = await handle.query(statusQuery);
      const backups = status.report.backups;
      expect(backups.length).toBeGreaterThan(0);
      for (const b of backups) {
        expect(existsSync(b.location)).toBe(true);
      }
      const recoveryId = (status.progress as CcfRecoveryProgress).recoveryId;
      const manifest = JSON.parse(
        readFileSync(path.join(net.backupDirectory, recoveryId, 'MANIFEST.json'), 'utf8'),
      ) as { what: string; files: { path: string; sha256: string }[] }[];
      const ledger = manifest.find((m) => m.what === 'ledger')!;
      const copied = digestTree(path.join(net.backupDirectory, recoveryId, 'n0', 'ledger'));
      expect(ledger.files.length).toBeGreaterThan(0);
      for (const f of ledger.files) expect(copied[f.path]).toBe(f.sha256);
    } finally {
      await worker.stop();
    }
  });

  it('refuses a second recovery of the same network while one runs, and bad input at once', async () => {
    const net = await createCcfTestNetwork(sim, { name: 'twice', nodes: [{ id: 'n0', lastSignedSeqno: 10 }] });
    const taskQueue = uniqueTaskQueue('ccf');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const first = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: 'twice',
        taskQueue,
        input: { ...fast, waitForApproval: true },
      });
      expect(first.workflowId).toBe(procedureWorkflowId('ccf-recovery', 'twice'));
      const second = startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: 'twice',
        taskQueue,
        input: {},
      });
      await expect(second).rejects.toBeInstanceOf(ProcedureAlreadyRunningError);
      await expect(second).rejects.toThrow(
        `a ccf-recovery of network "twice" is already running (workflow ccf-recovery:twice, run ${first.firstExecutionRunId})`,
      );
      await first.terminate('test over');

      const bad = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: 'twice',
        taskQueue,
        input: { pollIntervalMs: 'fast' },
      });
      const failure = (await bad.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = failure.cause as ApplicationFailure;
      expect(cause.message).toBe('input.pollIntervalMs: expected a number from 100 to 5000');
      expect(cause.nonRetryable).toBe(true);
      const events = (await bad.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
      expect(events.filter((e) => e.workflowTaskStartedEventAttributes)).toHaveLength(1);
    } finally {
      await worker.stop();
    }
  });

  it('survives SIGKILL of its worker during public recovery and during governance; one start per node and role', async () => {
    const slow = new CcfSimulator({ replayEntriesPerSecond: 400 });
    await slow.start();
    let worker: WorkerProcess | undefined;
    try {
      const net = await createCcfTestNetwork(slow, {
        name: 'crash',
        nodes: [
          { id: 'n0', lastSignedSeqno: 2400 },
          { id: 'n1', lastSignedSeqno: 3000 },
          { id: 'n2', lastSignedSeqno: 2000 },
        ],
      });
      const taskQueue = uniqueTaskQueue('ccf-crash');
      worker = await startWorkerProcess({ configFile: net.configFile, taskQueue });
      // Not a drill: members act with their own tools and report through updates, so the run waits for them.
      const handle = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: 'crash',
        taskQueue,
        input: fast,
      });
      const progress = async () => (await handle.query(statusQuery)).progress as CcfRecoveryProgress;

      // Kill 1: while the Recover nodes are reading their public ledgers.
      await waitFor('public recovery in progress', async () => {
        const p = await progress();
        return Object.values(p.nodes).some((n) => n.state === 'ReadingPublicLedger') ? p : undefined;
      });
      expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
      worker = await startWorkerProcess({ configFile: net.configFile, taskQueue });

      // Kill 2: during governance, while the run waits for the members' proposal.
      await waitFor(
        'the run to wait for a proposal',
        async () => {
          const s = await handle.query(statusQuery);
          return s.awaiting.some((a) => a.what === 'a transition_service_to_open proposal') ? s : undefined;
        },
        90_000,
      );
      expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
      worker = await startWorkerProcess({ configFile: net.configFile, taskQueue });

      // The members act on the chosen node (n1, the longest ledger) and report to the run.
      const serviceCertificate = readFileSync(
        path.join(net.dir, 'work', (await progress()).recoveryId, 'n1-recover', 'service_cert.pem'),
        'utf8',
      );
      const url = `https://${net.addresses.n1}`;
      const [m0, m1] = net.members.map((m) => new TestMember(m, url, serviceCertificate));
      const proposalId = await m0!.proposeOpen(readFileSync(net.fixture.previousServiceCertificateFile, 'utf8'));
      await handle.executeUpdate('proposalSubmitted', { args: [{ actor: 'alice', member: 'm0', proposalId }] });
      await waitFor('ballots to be awaited', async () =>
        (await handle.query(statusQuery)).awaiting.some((a) => a.what === 'ballots on the proposal') ? true : undefined,
      );
      await m0!.vote(proposalId);
      await m1!.vote(proposalId);
      await handle.executeUpdate('vote', { args: [{ actor: 'alice', member: 'm0' }] });
      await waitFor('shares to be awaited', async () =>
        (await handle.query(statusQuery)).awaiting.some((a) => a.what === 'recovery shares') ? true : undefined,
      );
      for (const m of [m0!, m1!]) {
        const reply = await m.submitShare();
        expect(reply.status).toBe(200);
        await handle.executeUpdate('sharesSubmitted', {
          args: [{ actor: 'bob', member: m === m0 ? 'm0' : 'm1', message: reply.message }],
        });
      }
      const result = (await handle.result()) as CcfRecoveryResult;

      expect(result.chosen.node).toBe('n1');
      expect(result.recoveryCount).toBe(3);
      expect(result.report.operatorActions.map((a) => `${a.actor}: ${a.action}`)).toEqual(
        expect.arrayContaining(["alice: reported m0's proposal", "bob: reported m1's recovery share"]),
      );
      const starts = slow.stats().starts;
      expect(starts[net.addresses.n0!]).toEqual({ Recover: 1, Join: 1 });
      expect(starts[net.addresses.n1!]).toEqual({ Recover: 1, Join: 0 });
      expect(starts[net.addresses.n2!]).toEqual({ Recover: 1, Join: 1 });
      // Both kills really interrupted the run: three workers served it.
      const history = await handle.fetchHistory();
      const identities = new Set(
        (history.events ?? []).map((e) => e.workflowTaskStartedEventAttributes?.identity).filter(Boolean),
      );
      expect(identities.size).toBe(3);
    } finally {
      await worker?.kill('SIGKILL');
      await slow.stop();
    }
  });

  it('validates activity input at the boundary, naming the field', async () => {
    const activities = createActivities({ config: parseConfig('networks: {}', 'test') });
    await expect(
      activities.launchCcfNode({ network: 'prod', node: 'n0', role: 'Recover', recoveryId: '../../etc' }),
    ).rejects.toThrow(/^input\.recoveryId: expected a recovery id/);
  });
});
