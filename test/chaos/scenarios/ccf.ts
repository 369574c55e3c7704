/**
 * CCF under chaos: drill recoveries of crashed three-node networks (ledgers of random lengths), and the health
 * watch noticing a crash, alerting and starting a recovery that waits for approval.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { procedureWorkflowId } from '../../../contracts/procedures';
import { startProcedure } from '../../../shared/start-procedure';
import { CcfSimulator } from '../../../simulators/ccf/simulator';
import type { CcfHealthWatchProgress } from '../../../workflows/ccf-health-watch';
import type { CcfRecoveryResult } from '../../../workflows/ccf-recovery';
import { statusQuery } from '../../../contracts/status';
import { createCcfTestNetwork, digestTree, startPreviousService, type CcfTestNetwork } from '../../helpers/ccf';
import { resultOf, retryTransient, sleep, type ChaosScenario, type RunContext } from '../harness';
import { alertsApplied, checkManifestFiles } from '../invariants';

const NODES = ['n0', 'n1', 'n2'];

export function ccfRecoveryScenario(): ChaosScenario {
  let sim: CcfSimulator;
  const networks: { net: CcfTestNetwork; digests: Record<string, string>; longest: string }[] = [];
  return {
    procedure: 'ccf-recovery',
    slots: 5,
    async setup({ runs, random }: RunContext) {
      sim = new CcfSimulator({ replayEntriesPerSecond: 4000 });
      await sim.start();
      for (let i = 0; i < runs; i++) {
        // Distinct lengths, so exactly one ledger is right.
        const seqnos = new Set<number>();
        while (seqnos.size < NODES.length) seqnos.add(random.int(20, 400));
        const lengths = [...seqnos];
        const net = await createCcfTestNetwork(sim, {
          name: `chaos-ccf-${i}`,
          nodes: NODES.map((id, k) => ({ id, lastSignedSeqno: lengths[k]! })),
        });
        networks.push({
          net,
          digests: net.originalDigests(),
          longest: NODES[lengths.indexOf(Math.max(...lengths))]!,
        });
      }
      return networksOf(networks.map((n) => n.net));
    },
    async run(_slot, index, { client, taskQueue }) {
      const { net, digests, longest } = networks[index]!;
      const handle = await startProcedure(client, {
        procedure: 'ccfRecovery',
        network: net.name,
        taskQueue,
        input: { drill: true, pollIntervalMs: 200, publicRecoveryTimeoutMs: 300_000, joinTimeoutMs: 300_000 },
      });
      const result = await resultOf<CcfRecoveryResult>(handle);
      const problems: string[] = [];
      if (result.report.outcome !== 'succeeded') problems.push(`outcome ${result.report.outcome}`);
      if (result.chosen.node !== longest)
        problems.push(`chose ${result.chosen.node}, the longest ledger is ${longest}'s`);
      if (result.joined.length !== NODES.length - 1) problems.push(`joined ${result.joined.join(',')}`);
      // Each node started exactly once as a Recover node, and the losers exactly once more as Join nodes.
      const stats = sim.stats();
      for (const id of NODES) {
        const starts = stats.starts[net.addresses[id]!] ?? { Recover: 0, Join: 0 };
        const join = id === longest ? 0 : 1;
        if (starts.Recover !== 1 || starts.Join !== join)
          problems.push(`${id} started ${starts.Recover}× Recover and ${starts.Join}× Join (expected 1 and ${join})`);
      }
      const running = stats.nodes.filter((n) => n.running && Object.values(net.addresses).includes(n.address));
      if (running.length !== NODES.length || running.some((n) => n.state !== 'PartOfNetwork'))
        problems.push(`nodes after recovery: ${running.map((n) => n.state).join(', ')}`);
      // The crashed service's files were never touched, and the backup holds what its manifest says.
      const after = net.originalDigests();
      for (const [file, digest] of Object.entries(digests))
        if (after[file] !== digest) problems.push(`${file} was ${after[file] ? 'modified' : 'deleted'}`);
      problems.push(...checkCcfBackup(path.join(net.backupDirectory, result.recoveryId)));
      if (readFileSync(net.certificateDestination, 'utf8') !== result.serviceCertificate)
        problems.push('the new service certificate was not written where the clients read it');
      // Free the ports for the other runs' nodes.
      for (const address of Object.values(net.addresses)) await sim.stopNode(address);
      return problems;
    },
    async teardown() {
      await sim?.stop();
    },
  };
}

export function ccfHealthWatchScenario(): ChaosScenario {
  const SLOTS = 10;
  // A simulator per slot: each runs one previous service at a time, and crashes it alone.
  const sims: CcfSimulator[] = [];
  const networks: CcfTestNetwork[] = [];
  return {
    procedure: 'ccf-health-watch',
    slots: SLOTS,
    async setup({ runs }: RunContext) {
      for (let s = 0; s < SLOTS; s++) {
        const sim = new CcfSimulator({ replayEntriesPerSecond: 4000 });
        await sim.start();
        sims.push(sim);
      }
      for (let i = 0; i < runs; i++) {
        networks.push(
          await createCcfTestNetwork(sims[i % SLOTS]!, {
            name: `chaos-watch-${i}`,
            nodes: NODES.map((id, k) => ({ id, lastSignedSeqno: 50 + k * 10 })),
          }),
        );
      }
      return networksOf(networks);
    },
    async run(slot, index, { client, taskQueue, random, webhook }) {
      // Any simulator can host any network's previous service; each slot crashes only its own.
      const net = networks[index]!;
      const sim = sims[slot]!;
      await startPreviousService(sim, net);
      const watch = await startProcedure(client, {
        procedure: 'ccfHealthWatch',
        network: net.name,
        taskQueue,
        input: { pollIntervalMs: 300, unhealthyForMs: 1500, startRecovery: true, maxChecks: 30 },
      });
      // The service crashes at a random moment of the watch.
      await sleep(random.int(1000, 4000));
      await sim.crashPreviousService();
      const result = await resultOf<CcfHealthWatchProgress>(watch);
      const problems: string[] = [];
      const alerts = alertsApplied(webhook, net.name);
      if (alerts !== 1) problems.push(`${alerts} alerts applied for one outage (expected 1)`);
      if (!result.alerted) problems.push('the watch does not report its alert');
      const recovery = client.workflow.getHandle(procedureWorkflowId('ccf-recovery', net.name));
      const status = await retryTransient(() => recovery.query(statusQuery)).catch(() => undefined);
      if (!status?.awaiting.some((a) => a.what === 'approval to start the recovery'))
        problems.push('no recovery waits for approval');
      const recoveries = await retryTransient(async () => {
        let n = 0;
        for await (const _ of client.workflow.list({ query: `WorkflowId = '${recovery.workflowId}'` })) n++;
        return n;
      });
      if (recoveries !== 1) problems.push(`${recoveries} recoveries started (expected 1)`);
      await retryTransient(() => recovery.terminate('chaos run over')).catch(() => undefined);
      return problems;
    },
    async teardown() {
      for (const sim of sims) await sim.stop();
    },
  };
}

function networksOf(networks: CcfTestNetwork[]): Record<string, object> {
  const raw = (n: CcfTestNetwork) => (n.rawConfig as { networks: Record<string, object> }).networks[n.name]!;
  return Object.fromEntries(networks.map((n) => [n.name, raw(n)]));
}

/** Every file of the backup is there with the digest its MANIFEST.json gives, and no partial copy is left. */
function checkCcfBackup(folder: string): string[] {
  const manifest = JSON.parse(readFileSync(path.join(folder, 'MANIFEST.json'), 'utf8')) as {
    node: string;
    what: string;
    missing?: boolean;
    files: { path: string; sha256: string }[];
  }[];
  const problems = checkManifestFiles(
    manifest.flatMap((e) =>
      e.files.map((f) => ({ file: path.join(folder, e.node, e.what, f.path), sha256: f.sha256 })),
    ),
  );
  const present = Object.keys(digestTree(folder)).filter((f) => f !== 'MANIFEST.json');
  const listed = manifest.reduce((n, e) => n + e.files.length, 0);
  if (present.length !== listed)
    problems.push(`backup ${folder} holds ${present.length} files, its manifest ${listed}`);
  return problems;
}
