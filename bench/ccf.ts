/**
 * Rows 1 and 2: CCF recovery against the simulator with fixed durations.
 *
 * 1. Orchestration overhead: a five-node drill recovery by the workflow, and the same steps driven by a plain
 *    sequential script calling the same activity code without Temporal. The simulator records what it spends
 *    itself (launcher processes, public and private ledger replays, joins); overhead = wall time minus the union
 *    of those intervals.
 * 2. Decision latency: 50 Recover nodes reaching PartOfPublicNetwork at staggered times; from the last of them
 *    to the chosen ledger recorded and to the last loser's stop command issued.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities, type Activities } from '../activities';
import { startProcedure } from '../shared/start-procedure';
import { CcfSimulator } from '../simulators/ccf/simulator';
import type { CcfRecoveryResult } from '../workflows/ccf-recovery';
import { statusQuery } from '../contracts/status';
import { createCcfTestNetwork, type CcfTestNetwork } from '../test/helpers/ccf';
import { uniqueTaskQueue, writeConfig } from '../test/helpers/temporal';
import { median, sleep, startBenchWorker, unionMs, type BenchContext, type BenchRow } from './harness';

const POLL_MS = 200;
const REPEATS = 3;

export async function ccfOverhead(context: BenchContext): Promise<BenchRow[]> {
  // Ledgers of 1,000 to 2,600 entries replayed at 1,000 a second: each node's public replay takes 1-2.6 s.
  const sim = new CcfSimulator({ replayEntriesPerSecond: 1000 });
  await sim.start();
  const lengths = [1000, 1400, 1800, 2200, 2600];
  const networks: CcfTestNetwork[] = [];
  for (let i = 0; i < REPEATS * 2; i++) {
    networks.push(
      await createCcfTestNetwork(sim, {
        name: `bench-ccf-${i}`,
        nodes: lengths.map((n, k) => ({ id: `n${k}`, lastSignedSeqno: n })),
      }),
    );
  }
  // Every launcher command notes when it started and ended: the time it runs is the network's, not ours.
  const launcherLog = path.join(context.dir, 'launcher-runs.log');
  const raw = (n: CcfTestNetwork) => {
    const entry = (n.rawConfig as { networks: Record<string, LauncherEntry> }).networks[n.name]!;
    for (const which of ['start', 'stop'] as const)
      entry.ccf.launcher[which] = timed(entry.ccf.launcher[which], launcherLog);
    return entry;
  };
  const { file: configFile, config } = writeConfig(context.dir, {
    networks: Object.fromEntries(networks.map((n) => [n.name, raw(n)])),
  });
  const taskQueue = uniqueTaskQueue('bench-ccf');
  const worker = await startBenchWorker(context, configFile, taskQueue);
  // The sequential script runs the same activity code, with the same configuration, in this process.
  const activities = createActivities({ config });
  const workflow: { wall: number; overhead: number }[] = [];
  const sequential: { wall: number; overhead: number }[] = [];
  try {
    for (let r = 0; r < REPEATS; r++) {
      // Alternate, so neither side always runs on a warmer machine.
      for (const side of r % 2 ? ['sequential', 'workflow'] : ['workflow', 'sequential']) {
        const net = networks[r * 2 + (side === 'workflow' ? 0 : 1)]!;
        const start = Date.now();
        let steps: { name: string; from: number; to: number }[] = [];
        if (side === 'workflow') {
          const handle = await startProcedure(context.client, {
            procedure: 'ccfRecovery',
            network: net.name,
            taskQueue,
            input: { drill: true, pollIntervalMs: POLL_MS },
          });
          const result = (await handle.result()) as CcfRecoveryResult;
          steps = result.report.steps.map((x) => ({
            name: x.name,
            from: Date.parse(x.startedAt),
            to: Date.parse(x.endedAt!),
          }));
        } else {
          await recoverSequentially(activities, net.name, POLL_MS);
        }
        const end = Date.now();
        const intervals = [
          ...sim
            .busyIntervals()
            .filter((b) => b.what !== 'launch' && b.what !== 'stop')
            .filter((b) => Object.values(net.addresses).includes(b.address)),
          ...launcherRuns(launcherLog),
        ];
        const busy = unionMs(intervals, start, end);
        const figure = { wall: end - start, overhead: end - start - busy };
        (side === 'workflow' ? workflow : sequential).push(figure);
        // Where the workflow's own time went, step by step (the largest first).
        const ours = steps
          .map((x) => ({ name: x.name, ms: x.to - x.from - unionMs(intervals, x.from, x.to) }))
          .filter((x) => x.ms >= 20)
          .sort((a, b) => b.ms - a.ms)
          .map((x) => `${x.name} ${x.ms}`)
          .join(', ');
        context.log(
          `  ${side}: ${(figure.wall / 1000).toFixed(2)} s, of which the simulated network ${(busy / 1000).toFixed(2)} s${ours ? `; ours by step (ms): ${ours}` : ''}`,
        );
        for (const address of Object.values(net.addresses)) await sim.stopNode(address);
      }
    }
  } finally {
    await worker.kill('SIGTERM');
    await sim.stop();
  }
  const wall = median(workflow.map((f) => f.wall));
  const baselineWall = median(sequential.map((f) => f.wall));
  const overhead = median(workflow.map((f) => f.overhead));
  const baselineOverhead = median(sequential.map((f) => f.overhead));
  return [
    {
      row: '1 CCF overhead',
      metric: 'orchestration overhead, 5 nodes',
      value: overhead / 1000,
      unit: 's',
      baseline: baselineOverhead / 1000,
      ratio: overhead / baselineOverhead,
      target: `< ${(1 + POLL_MS / 1000).toFixed(1)} s (1 s + one ${POLL_MS} ms poll)`,
      met: overhead < 1000 + POLL_MS,
      notes: `median of ${REPEATS}; overhead = wall time − time the simulated network imposed`,
    },
    {
      row: '1 CCF overhead',
      metric: 'recovery wall time, 5 nodes',
      value: wall / 1000,
      unit: 's',
      baseline: baselineWall / 1000,
      ratio: wall / baselineWall,
      target: 'faster than the sequential script (ratio < 1)',
      met: wall < baselineWall,
    },
  ];
}

/**
 * The same runbook as the workflow, one step after another, calling the activity code directly: the baseline a
 * careful operator's script would be.
 */
async function recoverSequentially(acts: Activities, network: string, pollIntervalMs: number): Promise<void> {
  const recoveryId = `sequential-${Date.now()}`;
  const plan = await acts.describeCcfNetwork({ network });
  for (const n of plan.nodes) await acts.probeCcfConsensus({ network, node: n.id });
  await acts.backupCcfLedgers({ network, recoveryId });
  for (const n of plan.nodes) await acts.launchCcfNode({ network, node: n.id, role: 'Recover', recoveryId });
  const waitFor = async (node: string, role: 'Recover' | 'Join', states: string[]) => {
    for (;;) {
      const seen = await acts.observeCcfNode({
        network,
        node,
        role,
        recoveryId,
        untilStates: states,
        windowMs: 0,
        pollIntervalMs,
      });
      if (seen.state && states.includes(seen.state)) return seen;
      await sleep(pollIntervalMs);
    }
  };
  const seqnos = new Map<string, number>();
  for (const n of plan.nodes)
    seqnos.set(n.id, (await waitFor(n.id, 'Recover', ['PartOfPublicNetwork'])).lastSignedSeqno!);
  const chosen = [...seqnos].sort((a, b) => b[1] - a[1])[0]![0];
  const others = plan.nodes.map((n) => n.id).filter((id) => id !== chosen);
  for (const node of others) await acts.stopCcfNode({ network, node, role: 'Recover', recoveryId });
  for (const node of others) await acts.launchCcfNode({ network, node, role: 'Join', recoveryId, joinTarget: chosen });
  for (const node of others) await waitFor(node, 'Join', ['PartOfPublicNetwork', 'PartOfNetwork']);
  const onChosen = { network, node: chosen, role: 'Recover' as const, recoveryId };
  const createdAt = Math.floor(Date.now() / 1000);
  for (const m of plan.members) await acts.ackCcfStateDigest({ ...onChosen, member: m.name, createdAt });
  let proposal = await acts.proposeCcfServiceOpen({ ...onChosen, member: plan.members[0]!.name, createdAt });
  for (const m of plan.members) {
    if (proposal.state !== 'Open') break;
    proposal = await acts.submitCcfBallot({ ...onChosen, member: m.name, proposalId: proposal.proposalId, createdAt });
  }
  for (const m of plan.members) {
    const reply = await acts.submitCcfRecoveryShare({ ...onChosen, member: m.name, createdAt });
    if ((reply.submittedCount ?? 0) >= (reply.recoveryThreshold ?? Infinity)) break;
  }
  await waitFor(chosen, 'Recover', ['PartOfNetwork']);
  for (const node of others) await waitFor(node, 'Join', ['PartOfNetwork']);
  for (;;) {
    const service = await acts.readCcfService(onChosen);
    if (service.serviceStatus === 'Open' && service.appReady) break;
    await sleep(pollIntervalMs);
  }
  await acts.writeCcfServiceCertificate({ network, node: chosen, recoveryId });
}

interface LauncherEntry {
  ccf: { launcher: { start: string; stop: string } };
}

/** The launcher command, wrapped so that it appends `<started ms> <ended ms>` to `log` whatever its outcome. */
function timed(command: string, log: string): string {
  return `s=$(date +%s%3N); ${command}; rc=$?; echo "$s $(date +%s%3N)" >> '${log}'; exit $rc`;
}

function launcherRuns(log: string): { from: number; to: number }[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(Number))
    .map(([from, to]) => ({ from: from!, to: to! }));
}

export async function ccfDecisionLatency(context: BenchContext): Promise<BenchRow[]> {
  const NODES = 50;
  const pollIntervalMs = 500;
  const sim = new CcfSimulator({ replayEntriesPerSecond: 2000 });
  await sim.start();
  // Staggered: ledgers of 2,000 to 6,900 entries, replayed in 1 to 3.5 s once each node runs.
  const net = await createCcfTestNetwork(sim, {
    name: 'bench-ccf-50',
    nodes: Array.from({ length: NODES }, (_, k) => ({
      id: `n${String(k).padStart(2, '0')}`,
      lastSignedSeqno: 2000 + 100 * k,
    })),
  });
  // Launchers as light as systemctl: curl posts to the simulator's control API what the cchost stand-in
  // would (50 Node.js processes booting at once would measure the machine's CPU, not the orchestrator).
  // Each stop command first writes when it began: that is when it was issued.
  const stopsLog = path.join(net.dir, 'stops-issued.log');
  const stopBodies = path.join(net.dir, 'stop-bodies');
  mkdirSync(stopBodies, { recursive: true });
  for (const [id, address] of Object.entries(net.addresses))
    writeFileSync(path.join(stopBodies, `${id}.json`), JSON.stringify({ address }));
  const raw = net.rawConfig as { networks: Record<string, LauncherEntry> };
  const control = `${sim.controlUrl}/control/nodes`;
  const curl = `curl -sf -o /dev/null -X POST -H 'content-type: application/json'`;
  raw.networks[net.name]!.ccf.launcher = {
    start: `${curl} --data-binary @{{config}} ${control}`,
    stop: `date +%s%3N >> '${stopsLog}'; ${curl} --data-binary @'${stopBodies}/'{{node}}.json ${control}/stop`,
  };
  const configFile = writeConfig(net.dir, raw).file;
  const taskQueue = uniqueTaskQueue('bench-ccf-50');
  const worker = await startBenchWorker(context, configFile, taskQueue);
  try {
    const handle = await startProcedure(context.client, {
      procedure: 'ccfRecovery',
      network: net.name,
      taskQueue,
      input: { drill: true, pollIntervalMs, publicRecoveryTimeoutMs: 600_000 },
    });
    // Once the losers' stops are under way the rest of the recovery is not measured here.
    for (;;) {
      const status = await handle.query(statusQuery);
      const stopped = status.report.steps.find((s) => s.name === 'stop-other-candidates' && s.endedAt);
      if (stopped?.outcome === 'succeeded') break;
      if (stopped) throw new Error(`stopping the other candidates failed: ${stopped.detail}`);
      if (status.report.outcome === 'failed') throw new Error(`the 50-node recovery failed: ${status.report.failure}`);
      await sleep(500);
    }
    const status = await handle.query(statusQuery);
    await handle.terminate('benchmark over').catch(() => undefined);
    const lastReady = Math.max(
      ...sim
        .busyIntervals()
        .filter((b) => b.what === 'public-ledger')
        .map((b) => b.to),
    );
    const picked = Date.parse(status.report.steps.find((s) => s.name === 'pick-ledger')!.endedAt!);
    const stopsIssued = readFileSync(stopsLog, 'utf8').trim().split('\n').map(Number);
    const lastStop = Math.max(...stopsIssued);
    if (stopsIssued.length !== NODES - 1)
      throw new Error(`${stopsIssued.length} stop commands issued, expected ${NODES - 1}`);
    context.log(
      `  stops issued at ${stopsIssued
        .map((t) => t - lastReady)
        .sort((a, b) => a - b)
        .join(' ')}`,
    );
    const hist = await handle.fetchHistory();
    const stopSched = new Set<string>();
    const times: string[] = [];
    for (const e of hist.events!) {
      const t = Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6) - lastReady;
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'stopCcfNode') {
        stopSched.add(String(e.eventId));
        if (stopSched.size === 1) times.push(`sched ${t}`);
      }
      if (
        e.activityTaskStartedEventAttributes &&
        stopSched.has(String(e.activityTaskStartedEventAttributes.scheduledEventId))
      )
        times.push(`${t}`);
    }
    context.log(`  stop activities started at ${times.join(' ')}`);
    const recorded = picked - lastReady;
    const stopped = lastStop - lastReady;
    context.log(
      `  last node PartOfPublicNetwork → chosen ledger recorded ${recorded} ms, → last of ${NODES - 1} stops issued ${stopped} ms`,
    );
    const target = pollIntervalMs + 200;
    return [
      {
        row: '2 decision latency',
        metric: `${NODES} nodes: last ready → ledger chosen`,
        value: recorded,
        unit: 'ms',
        target: `≤ ${target} ms (one ${pollIntervalMs} ms poll + 200 ms)`,
        met: recorded <= target,
      },
      {
        row: '2 decision latency',
        metric: `${NODES} nodes: last ready → all stops issued`,
        value: stopped,
        unit: 'ms',
        target: `≤ ${target} ms`,
        met: stopped <= target,
      },
    ];
  } finally {
    await worker.kill('SIGTERM');
    for (const address of Object.values(net.addresses)) await sim.stopNode(address);
    await sim.stop();
  }
}
