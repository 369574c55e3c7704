/**
 * Corda as its shell and documentation present it (../shared/reference/corda/FACTS.md, with its sources:
 * corda-shell's InteractiveShell and ANSIProgressRenderer, corda-docs-portal's Collaborative Recovery and
 * Ledger Recovery pages). Both sides of each fact: our client reads upstream's real output (the documented
 * examples, joined onto one line as the shell prints them), and the simulator prints and answers that way.
 */
import { Client } from 'ssh2';
import { createActivities } from '../../activities';
import { JolokiaClient } from '../../activities/corda/jolokia';
import { parseFlowOutput, parseKotlinValue } from '../../activities/corda/shell-output';
import { flowArguments } from '../../activities/corda/shell';
import { LEDGER_SYNC_MBEAN } from '../../simulators/corda/servers';
import { partyOf, startTestCordaNetwork, type TestCordaNetwork } from '../helpers/corda';
import { startProcedure } from '../../shared/start-procedure';
import type { CordaReconciliationResult } from '../../workflows/corda-reconciliation';
import { connectTestTemporal, scratchDir, startTestWorker, uniqueTaskQueue } from '../helpers/temporal';

/** Upstream's documented outputs (FACTS.md §1-3), with "…" elisions filled in and the re-formatting undone. */
const UPSTREAM = {
  reconciliationStatus:
    'Flow completed with result: ReconciliationStatus(partyName="O=PartyB, L=London, C=GB", isRequester=true, stateMachineRunId="c243222b-5d85-4e59-9f4a-ba2b8a1c6e01" lastSuccessfulReconciliationTimeStarted=1582893847919, lastSuccessfulReconciliationTimeFinished=1582893848879, lastSuccessfulReconciliationStatus=DIFFERENCES_FOUND, lastSuccessfulReconciliationResult=[0B81D5CB6B3D4E1A, 0F4BB8AB9C2D4E5F], lastReconciliationTimeStarted=1582893847919, lastReconciliationTimeFinished=1582893848879, lastReconciliationStatus=DIFFERENCES_FOUND, lastReconciliationError="")',
  recoveryRequest:
    "Flow completed with result: RecoveryRequest(recoveryID=80edc8fc-088c-4367-acb4-cc4d6f0d44c7, party=O=PartyB, L=London, C=GB, isRequester=true, timeStarted=1582813640139, timeFinished=null, requestedTransactionIDs=[BA5C1583AB, FA90DAFCCD], recoveryStatusFlag=IN_PROGRESS, failureReason='', isManual=false, stateMachineRunId=[b2510d34-1c2d-4e5f-8a9b-0c1d2e3f4a5b])",
  // The doc's `))` is a typo there; toString prints one.
  ledgerRecovery:
    ' ✅  Validating recovery peers\n ✅  Performing window narrowing with peers\n ✅  Performing reconciliation with peers\n ✅  Performing finality recovery of in flight transactions\n ➡️  Done\nFlow completed with result: LedgerRecoveryResult(totalRecoveredRecords=2, totalRecoveredTransactions=2, totalRecoveredInFlightTransactions=0, totalErrors=0)',
  unit: 'Flow completed with result: kotlin.Unit',
  progress: 'Flow completed with result: RecoveryProgress(done=13, total=20)',
};

describe('Corda conformance', () => {
  describe('client: reads what the shell prints', () => {
    it('a ReconciliationStatus, the doc example with its missing comma', () => {
      const printed = parseFlowOutput(UPSTREAM.reconciliationStatus);
      expect(printed).toMatchObject({
        outcome: 'completed',
        result: {
          $class: 'ReconciliationStatus',
          partyName: 'O=PartyB, L=London, C=GB',
          isRequester: true,
          stateMachineRunId: 'c243222b-5d85-4e59-9f4a-ba2b8a1c6e01',
          lastSuccessfulReconciliationTimeStarted: 1582893847919,
          lastSuccessfulReconciliationResult: ['0B81D5CB6B3D4E1A', '0F4BB8AB9C2D4E5F'],
          lastReconciliationStatus: 'DIFFERENCES_FOUND',
          lastReconciliationError: '',
        },
      });
    });

    it('a RecoveryRequest: unquoted X.500 party with commas, single-quoted reason, bracketed run id', () => {
      expect(parseFlowOutput(UPSTREAM.recoveryRequest)).toMatchObject({
        outcome: 'completed',
        result: {
          $class: 'RecoveryRequest',
          recoveryID: '80edc8fc-088c-4367-acb4-cc4d6f0d44c7',
          party: 'O=PartyB, L=London, C=GB',
          timeFinished: null,
          requestedTransactionIDs: ['BA5C1583AB', 'FA90DAFCCD'],
          recoveryStatusFlag: 'IN_PROGRESS',
          failureReason: '',
          isManual: false,
          stateMachineRunId: ['b2510d34-1c2d-4e5f-8a9b-0c1d2e3f4a5b'],
        },
      });
    });

    it('LedgerRecoveryResult after the progress steps, Unit, and a small data class', () => {
      expect(parseFlowOutput(UPSTREAM.ledgerRecovery)).toEqual({
        outcome: 'completed',
        result: {
          $class: 'LedgerRecoveryResult',
          totalRecoveredRecords: 2,
          totalRecoveredTransactions: 2,
          totalRecoveredInFlightTransactions: 0,
          totalErrors: 0,
        },
        text: 'LedgerRecoveryResult(totalRecoveredRecords=2, totalRecoveredTransactions=2, totalRecoveredInFlightTransactions=0, totalErrors=0)',
      });
      expect(parseFlowOutput(UPSTREAM.unit)).toMatchObject({ outcome: 'completed', result: null });
      expect(parseKotlinValue('RecoveryProgress(done=13, total=20)')).toEqual({
        $class: 'RecoveryProgress',
        done: 13,
        total: 20,
      });
      expect(parseKotlinValue('[O=PartyA, L=London, C=GB, O=PartyB, L=New York, C=US]')).toEqual([
        'O=PartyA, L=London, C=GB',
        'O=PartyB, L=New York, C=US',
      ]);
    });

    it('a failed flow: the cause chain after ☠ (or ERROR: without Unicode), ANSI-coloured, no result line', () => {
      const coloured =
        '\u001b[2K\n\u001b[1m ➡️  Starting\u001b[22m\u001b[0K\n\u001b[31m☠ net.corda.core.CordaRuntimeException: com.r3.corda.lib.ledgersync.exceptions.MaxIncomingSessionsExceededException: too many sessions\n\t☠ cause\n\u001b[0m';
      expect(parseFlowOutput(coloured)).toEqual({
        outcome: 'failed',
        exception: 'MaxIncomingSessionsExceededException',
        messages: [
          'net.corda.core.CordaRuntimeException: com.r3.corda.lib.ledgersync.exceptions.MaxIncomingSessionsExceededException: too many sessions',
          'cause',
        ],
      });
      expect(parseFlowOutput('ERROR:  recovery request not found')).toEqual({
        outcome: 'failed',
        exception: 'FlowFailed',
        messages: ['recovery request not found'],
      });
      expect(
        parseFlowOutput('No matching constructor found:\n- GetReconciliationStatusesFlow: missing isRequester'),
      ).toMatchObject({ outcome: 'failed', exception: 'NoMatchingConstructor' });
    });

    it('flow arguments in the shell syntax the docs use', () => {
      expect(flowArguments({ parties: [partyOf('a'), partyOf('b')] })).toBe(
        'parties: ["O=A, L=London, C=GB","O=B, L=London, C=GB"]',
      );
      expect(flowArguments({ party: partyOf('b'), isRequester: true })).toBe(
        'party: "O=B, L=London, C=GB", isRequester: true',
      );
    });
  });

  describe('simulator and client together, over SSH and Jolokia', () => {
    let corda: TestCordaNetwork;
    beforeAll(async () => {
      corda = await startTestCordaNetwork({ name: 'conf', dir: scratchDir('corda-conformance'), nodes: ['a', 'b'] });
      for (const n of corda.network.nodes) n.start();
    });
    afterAll(async () => corda?.stop());

    /** A command on node a's shell, as `ssh … '<command>'` would send it; the raw output. */
    const shell = (command: string) =>
      new Promise<string>((resolve, reject) => {
        const client = new Client();
        client
          .on('ready', () =>
            client.exec(command, (err, stream) => {
              if (err) return reject(err);
              let out = '';
              stream.on('data', (c: Buffer) => (out += c.toString()));
              stream.on('close', () => (client.end(), resolve(out)));
            }),
          )
          .on('error', reject)
          .connect({
            host: '127.0.0.1',
            port: corda.servers.shellPort('a'),
            username: corda.shellLogin.user,
            password: corda.shellLogin.password,
          });
      });

    it('prints one result line with the toString of the documented type, and the progress before it', async () => {
      corda.network.addTransaction([partyOf('a'), partyOf('b')], { missingAt: ['a'] });
      const scheduled = await shell(`flow start ScheduleReconciliationFlow parties: ["${partyOf('b')}"]`);
      expect(scheduled).toMatch(/\nFlow completed with result: kotlin\.Unit\n$/);
      const out = await shell('flow start GetReconciliationStatusesFlow isRequester: true');
      const line = out.split('\n').filter((l) => l.startsWith('Flow completed with result: '));
      expect(line).toHaveLength(1);
      expect(line[0]).toMatch(
        /^Flow completed with result: \[ReconciliationStatus\(partyName="O=B, L=London, C=GB", isRequester=true, /,
      );
      expect(out).toContain('\u001b['); // ANSI, as over SSH
    });

    it('refuses a flow called without its documented parameters, as the shell does', async () => {
      const out = await shell('flow start GetReconciliationStatusesFlow');
      expect(out).toMatch(
        /^No matching constructor found:\n- GetReconciliationStatusesFlow\(isRequester, party\?, lastReconciliationStatus\?\)/,
      );
      expect(out).not.toContain('Flow completed');
      expect(parseFlowOutput(out).outcome).toBe('failed');
    });

    it('prints a failed flow as its cause chain after ☠, naming the exception as CordaRuntimeException does', async () => {
      corda.network.node('b').faults.busy = 1;
      const out = await shell(`flow start ScheduleReconciliationFlow parties: ["${partyOf('b')}"]`);
      expect(out).not.toContain('Flow completed');
      expect(parseFlowOutput(out)).toMatchObject({
        outcome: 'failed',
        exception: 'MaxIncomingSessionsExceededException',
      });
    });

    it('client: statuses with isRequester, automatic recovery outcome from its request, manual request id', async () => {
      const activities = createActivities({ config: corda.config });
      const views = await activities.cordaReconciliationStatuses({ network: 'conf', node: 'a' });
      expect(views).toEqual([{ party: partyOf('b'), status: 'DIFFERENCES_FOUND', missing: 1 }]);
      expect(corda.network.node('a').flowLog).toContain('GetReconciliationStatusesFlow');

      const recovered = await activities.recoverCordaAutomatically({ network: 'conf', node: 'a', party: partyOf('b') });
      expect(recovered).toEqual({ outcome: 'recovered', transactions: 1 });
      // AutomaticLedgerRecoverFlow returns nothing; the outcome came from the request it left.
      expect(corda.network.node('a').flowLog.slice(-2)).toEqual([
        'AutomaticLedgerRecoverFlow',
        'GetRecoveryRequestsFlow',
      ]);

      const requestId = await activities.initiateCordaManualRecovery({
        network: 'conf',
        node: 'a',
        party: partyOf('b'),
      });
      expect(corda.network.node('a').recoveryRequests.get(requestId)).toMatchObject({
        kind: 'manual',
        state: 'REQUESTED',
      });
    });

    it("the scheduled reconciliation alerts on failures LedgerSync's metrics count beyond the peers it reconciled", async () => {
      // A past reconciliation of a with c failed; this run reconciles a with b only.
      corda.network.node('a').reconciliations.set(partyOf('c'), {
        party: partyOf('c'),
        status: 'FAILED',
        error: 'earlier failure',
        missing: [],
        startedAt: Date.now() - 3_600_000,
      });
      const temporal = await connectTestTemporal();
      const taskQueue = uniqueTaskQueue('corda-conf');
      const config = { ...corda.config };
      const net = config.networks.conf as { nodes: { peers?: string[] }[] };
      net.nodes[0]!.peers = [partyOf('b')];
      net.nodes[1]!.peers = [partyOf('a')];
      const worker = await startTestWorker(temporal, taskQueue, { config });
      try {
        const handle = await startProcedure(temporal.client, {
          procedure: 'cordaReconciliation',
          network: 'conf',
          taskQueue,
          input: { pollIntervalMs: 50, busyBackoffMs: 50 },
        });
        const result = (await handle.result()) as CordaReconciliationResult;
        expect(result.failed).toEqual([]);
        expect(result.alerted).toBe(true);
      } finally {
        await worker.stop();
        await temporal.close();
      }
    });

    it("Jolokia: LedgerSync's metrics under an undocumented name, found by their documented attributes", async () => {
      const jolokia = new JolokiaClient({ url: corda.servers.jolokiaUrl('a') });
      expect(
        await jolokia.findByAttributes(['NumberOfFailedReconciliations', 'NumberOfReconciliationsWithDifferences']),
      ).toEqual([LEDGER_SYNC_MBEAN]);
      const values = await jolokia.readAttributes(LEDGER_SYNC_MBEAN, [
        'NumberOfFailedReconciliations',
        'PartiesWithDifference',
      ]);
      expect(values).toEqual({ NumberOfFailedReconciliations: 1, PartiesWithDifference: [] });
    });
  });
});
