/**
 * CCF as upstream documents and implements it (test/reference/ccf/SOURCE.md, "Facts beyond the OpenAPI"),
 * each fact checked on both sides: the simulator behaves as CCF does, and our client handles CCF's real
 * answers. The Python-package interop lives in ccf-python.test.ts.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import axios from 'axios';
import { createActivities } from '../../activities';
import { consensusResponse, networkInfoResponse, recoveryShareResponse } from '../../activities/ccf/schemas';
import { readLedger } from '../../simulators/ccf/ledger';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import type { CcfRecoveryResult } from '../../workflows/ccf-recovery';
import { assessServiceHealth, parseShareProgress } from '../../workflows/lib/ccf';
import { startProcedure } from '../../shared/start-procedure';
import { loadCcfApi } from '../helpers/ccf-openapi';
import {
  createCcfTestNetwork,
  startPreviousService,
  startRecoveringNode,
  TestMember,
  type CcfTestNetwork,
} from '../helpers/ccf';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  type TestTemporal,
} from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const fast = { pollIntervalMs: 200, publicRecoveryTimeoutMs: 60_000, joinTimeoutMs: 60_000 };
const BALLOT = 'export function vote (proposal, proposerId) { return true }';

describe('CCF conformance', () => {
  let temporal: TestTemporal;
  let sim: CcfSimulator;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    sim = new CcfSimulator({ replayEntriesPerSecond: 5000 });
    await sim.start();
  });
  afterAll(async () => {
    const problems = loadCcfApi().validateAll(sim.exchanges());
    await sim.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  async function drill(net: CcfTestNetwork): Promise<CcfRecoveryResult> {
    const taskQueue = uniqueTaskQueue('ccf-conformance');
    const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    try {
      const handle = await startProcedure(temporal.client, {
        procedure: 'ccfRecovery',
        network: net.name,
        taskQueue,
        input: { ...fast, drill: true },
      });
      return (await handle.result()) as CcfRecoveryResult;
    } finally {
      await worker.stop();
    }
  }

  describe('(a) ledger.read_only_directories: only .committed files are read', () => {
    it('simulator: an uncommitted file counts in ledger.directory and not in a read-only directory', async () => {
      const net = await createCcfTestNetwork(sim, {
        name: 'ro-sim',
        nodes: [{ id: 'n0', lastSignedSeqno: 295, committedSeqno: 200 }],
      });
      const original = net.fixture.nodes[0]!.ledgerDirectory;
      const empty = scratchDir('ro-empty');
      mkdirSync(empty, { recursive: true });
      expect(readdirSync(original).filter((f) => !f.endsWith('.committed'))).toEqual(['ledger_201']);
      expect(readLedger(original).lastSignedSeqno).toBe(295);
      expect(readLedger(empty, [original]).lastSignedSeqno).toBe(200);
    });

    it('client: the chosen ledger includes the uncommitted tail, which decides the choice', async () => {
      // Nodes cut their files at different seqnos (CCF chunks by size): n0 signed up to 295 but committed
      // files end at 200; n1 signed up to 250, all of it in committed files.
      const net = await createCcfTestNetwork(sim, {
        name: 'ro-tail',
        nodes: [
          { id: 'n0', lastSignedSeqno: 295, committedSeqno: 200 },
          { id: 'n1', lastSignedSeqno: 250, committedSeqno: 250 },
        ],
        cchostOverlay: { ledger: { chunk_size: '20MB' }, logging: { format: 'Json' } },
      });
      const [n0, n1] = net.fixture.nodes.map((n) => n.ledgerDirectory) as [string, string];
      // Read only through read-only directories, n1 would win with the shorter ledger.
      const empty = scratchDir('ro-empty2');
      mkdirSync(empty, { recursive: true });
      expect(readLedger(empty, [n0]).lastSignedSeqno).toBeLessThan(readLedger(empty, [n1]).lastSignedSeqno);

      const before = net.originalDigests();
      const result = await drill(net);
      expect(result.chosen).toMatchObject({ node: 'n0', lastSignedSeqno: 295 });
      expect(net.originalDigests()).toEqual(before);

      // The rendered configuration: the tail copied into the writable directory, the overlay merged beside it.
      const work = path.join(net.dir, 'work', result.recoveryId, 'n0-recover');
      const config = JSON.parse(readFileSync(path.join(work, 'cchost.json'), 'utf8')) as {
        ledger: { directory: string; read_only_directories: string[]; chunk_size: string };
        logging: { format: string };
      };
      expect(config.ledger).toMatchObject({ chunk_size: '20MB', read_only_directories: [n0] });
      expect(config.logging.format).toBe('Json');
      expect(readdirSync(config.ledger.directory)).toContain('ledger_201');
      expect(result.report.notes.join('\n')).toContain('n0: 1 uncommitted ledger file(s) copied');
    });
  });

  describe('(b) ballots: GET returns the JavaScript source; the identical ballot again is accepted', () => {
    it('simulator and client, through a retried ballot', async () => {
      const {
        net,
        activities,
        ref,
        certificate: serviceCertificate,
        url,
      } = await startRecoveringNode(sim, {
        name: 'ballots',
        lastSignedSeqno: 40,
      });
      const createdAt = Math.floor(Date.now() / 1000);
      const proposal = await activities.proposeCcfServiceOpen({ ...ref, member: 'm0', createdAt });
      const first = await activities.submitCcfBallot({
        ...ref,
        member: 'm0',
        createdAt,
        proposalId: proposal.proposalId,
      });
      // The worker died after CCF recorded the ballot: Temporal runs the activity again.
      const retried = await activities.submitCcfBallot({
        ...ref,
        member: 'm0',
        createdAt,
        proposalId: proposal.proposalId,
      });
      expect(first.ballotCount).toBe(1);
      expect(retried).toMatchObject({ ballotCount: 1, state: 'Open' });

      const member = new TestMember(net.members[0]!, url, serviceCertificate);
      const get = await axios.get<string>(
        `${url}/gov/members/proposals/${proposal.proposalId}/ballots/${member.memberId}?api-version=2024-07-01`,
        { httpsAgent: new https.Agent({ ca: serviceCertificate }), transformResponse: (d: string) => d },
      );
      expect(get.headers['content-type']).toBe('text/javascript');
      expect(get.data).toBe(BALLOT);
      // A different ballot from the same member is refused.
      await expect(member.vote(proposal.proposalId, 'export function vote () { return false }')).rejects.toThrow(
        /400.*VoteAlreadyExists/,
      );
      await member.vote(proposal.proposalId, BALLOT);
    });

    it('simulator: the same signed proposal again is a 400 ProposalReplay naming the first proposal', async () => {
      const { net, certificate, url } = await startRecoveringNode(sim, { name: 'replay', lastSignedSeqno: 30 });
      const member = new TestMember(net.members[0]!, url, certificate);
      const body = member.sign('proposal', { actions: [{ name: 'transition_service_to_open', args: {} }] });
      const first = await member.send('/gov/members/proposals:create', body);
      const again = await member.send('/gov/members/proposals:create', body);
      expect(first.status).toBe(200);
      expect(again.status).toBe(400);
      expect(again.data).toEqual({
        error: {
          code: 'ProposalReplay',
          message: `Proposal submission replay, already exists as proposal ${(first.data as { proposalId: string }).proposalId}`,
        },
      });
    });
  });

  describe('(c) primary_id is null while no primary is known', () => {
    const networkInfo = {
      service_status: 'Open',
      service_certificate: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n',
      current_view: 5,
      primary_id: null,
      recovery_count: 1,
      service_data: {},
      current_service_create_txid: '3.41',
    };

    it('client: upstream answers with null parse, and electing nodes count as "no primary", not unreachable', async () => {
      expect(networkInfoResponse.parse(networkInfo).primary_id).toBeNull();
      expect(
        consensusResponse.parse({ details: { primary_id: null, current_view: 5, membership_state: 'Active' } }).details
          .primary_id,
      ).toBeNull();

      const net = await createCcfTestNetwork(sim, {
        name: 'election',
        nodes: [
          { id: 'n0', lastSignedSeqno: 30 },
          { id: 'n1', lastSignedSeqno: 30 },
          { id: 'n2', lastSignedSeqno: 30 },
        ],
      });
      await startPreviousService(sim, net);
      try {
        sim.setFaults(net.addresses.n1!, { electing: true });
        sim.setFaults(net.addresses.n2!, { electing: true });
        const activities = createActivities({ config: net.config });
        const probes = await Promise.all(
          ['n0', 'n1', 'n2'].map((node) => activities.probeCcfConsensus({ network: net.name, node })),
        );
        expect(probes.map((p) => [p.reachable, p.primaryId === undefined])).toEqual([
          [true, false],
          [true, true],
          [true, true],
        ]);
        const health = assessServiceHealth(probes);
        expect(health.healthy).toBe(false);
        expect(health.reason).toBe(
          'at most 1 of 3 nodes agree on a primary (2 needed); 3 answered, 2 of them with no primary (in an election)',
        );
      } finally {
        sim.clearFaults();
        await sim.crashPreviousService();
      }
    });
  });

  describe('(d) the reply to a recovery share', () => {
    it('client: parses upstream reply bodies, with and without fullKeySubmitted', () => {
      const atThreshold = {
        message: '2/2 recovery shares successfully submitted\nEnd of recovery procedure initiated',
        submittedCount: 2,
        recoveryThreshold: 2,
        fullKeySubmitted: false,
      };
      expect(recoveryShareResponse.parse(atThreshold)).toEqual(atThreshold);
      expect(
        recoveryShareResponse.parse({
          message: '1/2 recovery shares successfully submitted',
          submittedCount: 1,
          recoveryThreshold: 2,
        }),
      ).toBeTruthy();
      expect(parseShareProgress(atThreshold.message)).toEqual({ submitted: 2, threshold: 2 });
      expect(
        parseShareProgress('Full recovery key successfully submitted\nEnd of recovery procedure initiated'),
      ).toBeUndefined();
    });

    it("simulator: answers with upstream's text and fields, and 403 once the shares are combined", async () => {
      const { net, activities, ref, certificate, url } = await startRecoveringNode(sim, {
        name: 'shares',
        lastSignedSeqno: 30,
        recoveryThreshold: 2,
      });
      const createdAt = Math.floor(Date.now() / 1000);
      const proposal = await activities.proposeCcfServiceOpen({ ...ref, member: 'm0', createdAt });
      for (const member of ['m0', 'm1'])
        await activities.submitCcfBallot({ ...ref, member, createdAt, proposalId: proposal.proposalId });
      const [m0, m1, m2] = net.members.map((m) => new TestMember(m, url, certificate)) as [
        TestMember,
        TestMember,
        TestMember,
      ];
      expect(await m0.submitShare()).toEqual({ status: 200, message: '1/2 recovery shares successfully submitted' });
      expect(await m1.submitShare()).toEqual({
        status: 200,
        message: '2/2 recovery shares successfully submitted\nEnd of recovery procedure initiated',
      });
      // recovery.h: while the private ledger is read, then once the service is open.
      expect(await m2.submitShare()).toEqual({ status: 403, message: 'Node is already recovering private ledger.' });
      await waitFor('service open', async () =>
        (await activities.readCcfService(ref)).serviceStatus === 'Open' ? true : undefined,
      );
      expect(await m2.submitShare()).toEqual({ status: 403, message: 'Service is not waiting for recovery shares.' });
    });
  });
});
