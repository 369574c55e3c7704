/**
 * The I/O of Corda recovery: whether a node is really stopped, flow-checkpoint cleanup in its database
 * (archived with a checksum before anything is deleted), message-queue quarantine, the node's status through
 * Jolokia, and the Collaborative Recovery and 4.12 LedgerRecovery flows through its shell.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { ApplicationFailure } from '@temporalio/common';
import { Client } from 'pg';
import * as tar from 'tar';
import { z } from 'zod';
import { networkName, type CordaNetworkConfig, type CordaNodeConfig, type LedgerDrConfig } from '../../shared/config';
import { readSecret } from '../../shared/secrets';
import { renderCommand } from '../../shared/command-template';
import { createExecutor } from '../hosts/executor';
import { SealError, unseal } from '../../shared/sealed-file';
import { invalidInput, parseInput, parseResponse } from '../errors';
import { networkOfKind } from '../config/networks';
import { activityAttempt, withHeartbeats } from '../heartbeat';
import { createDumpFile } from '../streams';
import { sealingKey } from '../sealing';
import { JolokiaClient, JolokiaUnreachableError } from './jolokia';
import { CordaFlowError, CordaShell, CordaShellUnreachableError } from './shell';

/** Deleted in this order, as the node itself deletes a flow's checkpoint. */
export const CHECKPOINT_TABLES = [
  'node_checkpoints',
  'node_checkpoint_blobs',
  'node_flow_results',
  'node_flow_exceptions',
  'node_flow_metadata',
] as const;
const CHECKPOINT_STATUS = ['RUNNABLE', 'FAILED', 'COMPLETED', 'HOSPITALIZED', 'KILLED', 'PAUSED'];

export interface CordaPlan {
  network: string;
  generation: 'collaborative-recovery' | 'ledger-recovery';
  nodes: { id: string; party: string; peers: string[] }[];
  reconciliation: { sampleSize?: number; concurrency: number; stuckAfterMinutes: number };
  recoveryWindowHours: number;
  alertWebhooks: string[];
}

/** A business network as its scheduled reconciliation needs it: small, however many node–peer pairs it has. */
export interface CordaReconciliationPlan {
  network: string;
  /** Each node and how many peers it has (the peers themselves stay in the configuration). */
  nodes: { id: string; peers: number }[];
  reconciliation: CordaPlan['reconciliation'];
  alertWebhooks: string[];
}

export interface StoppedCheck {
  stopped: boolean;
  /** Why the node counts as running (lock held, Jolokia answering), or as stopped. */
  evidence: string[];
}

export interface CheckpointArchive {
  file: string;
  sha256: string;
  bytes: number;
  rows: Record<string, number>;
  byStatus: Record<string, number>;
  flowIds: number;
}

export interface QueueQuarantine {
  moved: { from: string; to: string }[];
}

export interface ReconciliationView {
  party: string;
  status: string;
  /** How many transactions this node lacks from the party (lastSuccessfulReconciliationResult). */
  missing: number;
  error?: string;
  flowId?: string;
}

/** One node's reconciliation with a set of parties; small enough for workflow history at thousands of pairs. */
export interface NodeReconciliation {
  node: string;
  parties: number;
  /** Party → status and how many transactions this node lacks from it. */
  results: { party: string; status: string; missing: number; error?: string }[];
  /** Parties whose reconciliation stayed IN_PROGRESS too long: killed and stopped. */
  stopped: string[];
  /** Times the node answered "busy" before the reconciliation was queued. */
  busy: number;
  /**
   * LedgerSync's own metrics after this run (its MBean found over Jolokia by attribute names), or why they
   * could not be read. They count every reconciliation of the node, not only this run's.
   */
  ledgerSync?: { mbean: string; failed: number; withDifferences: number } | { unavailable: string };
}

export type AutomaticRecovery =
  { outcome: 'recovered'; transactions: number } | { outcome: 'limit'; exception: string; message: string };

export interface LedgerRecoveryResult {
  totalRecoveredRecords: number;
  totalRecoveredTransactions: number;
  totalRecoveredInFlightTransactions: number;
  totalErrors: number;
}

const nodeRef = z.strictObject({ network: networkName, node: z.string().min(1) });
const workId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, { error: 'expected a work id' });
const party = z.string().min(1).max(500);
// The documented return types, as the shell prints them (FACTS.md §1-3; parsed by shell-output.ts).
const epochMillis = z.number().int().nullable().optional();
/** `stateMachineRunId` prints as the run id, as `[<uuid>]` (StateMachineRunId's own toString), or null. */
const runId = z
  .union([z.string(), z.array(z.string()).max(1), z.null()])
  .optional()
  .transform((v) => (Array.isArray(v) ? v[0] : (v ?? undefined)));
const reconciliationStatus = z.looseObject({
  $class: z.literal('ReconciliationStatus'),
  partyName: z.string(),
  isRequester: z.boolean(),
  stateMachineRunId: runId,
  lastSuccessfulReconciliationTimeStarted: epochMillis,
  lastSuccessfulReconciliationTimeFinished: epochMillis,
  lastSuccessfulReconciliationStatus: z.enum(['DIFFERENCES_FOUND', 'DIFFERENCES_NOT_FOUND']).nullable().optional(),
  /** Ids of the transactions the peer has and this node lacks. */
  lastSuccessfulReconciliationResult: z.array(z.string()).nullable().optional(),
  lastReconciliationTimeStarted: epochMillis,
  lastReconciliationTimeFinished: epochMillis,
  lastReconciliationStatus: z.enum(['IN_PROGRESS', 'DIFFERENCES_FOUND', 'DIFFERENCES_NOT_FOUND', 'FAILED', 'STOPPED']),
  lastReconciliationError: z.string().nullable().optional(),
});
const statusesResponse = z.array(reconciliationStatus);
const recoveryRequest = z.looseObject({
  $class: z.literal('RecoveryRequest'),
  recoveryID: z.string().min(1),
  party: z.string(),
  isRequester: z.boolean(),
  timeStarted: epochMillis,
  timeFinished: epochMillis,
  requestedTransactionIDs: z.array(z.string()).nullable().optional(),
  recoveryStatusFlag: z.enum(['REQUESTED', 'IN_PROGRESS', 'COMPLETED', 'FAILED']),
  failureReason: z.string().nullable().optional(),
  isManual: z.boolean(),
});
const recoveryRequests = z.array(recoveryRequest);
const ledgerRecoveryResponse = z.looseObject({
  $class: z.literal('LedgerRecoveryResult'),
  totalRecoveredRecords: z.number(),
  totalRecoveredTransactions: z.number(),
  totalRecoveredInFlightTransactions: z.number(),
  totalErrors: z.number(),
});
/** LedgerSync's metrics by their documented attribute names (FACTS.md §4). */
const LEDGER_SYNC_METRICS = ['NumberOfFailedReconciliations', 'NumberOfReconciliationsWithDifferences'] as const;
const ledgerSyncMetrics = z.object({
  NumberOfFailedReconciliations: z.number().int().min(0),
  NumberOfReconciliationsWithDifferences: z.number().int().min(0),
  FailedParties: z.array(z.string()).optional(),
  PartiesWithDifference: z.array(z.string()).optional(),
});
const LIMIT_EXCEPTIONS = [
  'TransactionLimitExceededException',
  'RequestLimitExceededException',
  'SizeLimitExceededException',
];

export function createCordaActivities(deps: { config: LedgerDrConfig }) {
  const cordaNetwork = (name: string) => {
    const network = networkOfKind(deps.config, name, 'corda', 'is for Corda nodes');
    if (!network.corda) {
      throw invalidInput(`networks.${name}.corda: required by the Corda procedures (generation, archiveDirectory, …)`);
    }
    return network as CordaNetworkConfig & { corda: NonNullable<CordaNetworkConfig['corda']> };
  };
  const lookup = (networkNameValue: string, nodeId: string) => {
    const network = cordaNetwork(networkNameValue);
    const index = network.nodes.findIndex((n) => n.id === nodeId);
    if (index < 0) throw invalidInput(`input.node: no node "${nodeId}" in network "${networkNameValue}"`);
    return {
      network,
      node: network.nodes[index] as CordaNodeConfig,
      field: `networks.${networkNameValue}.nodes[${index}]`,
    };
  };
  const shellOf = (networkNameValue: string, nodeId: string) => {
    const { node, field } = lookup(networkNameValue, nodeId);
    return new CordaShell(node, field);
  };
  const jolokiaOf = async (networkNameValue: string, nodeId: string) => {
    const { node, field } = lookup(networkNameValue, nodeId);
    const password = node.jolokia.password
      ? await readSecret(node.jolokia.password, `${field}.jolokia.password`)
      : undefined;
    return new JolokiaClient({
      url: node.jolokia.url,
      ...(node.jolokia.user ? { user: node.jolokia.user } : {}),
      ...(password ? { password: password.reveal() } : {}),
      timeoutMs: 10_000,
    });
  };
  /** The LedgerSync metrics MBean of each node, once found (its object name is not documented upstream). */
  const ledgerSyncBeans = new Map<string, string>();
  const ledgerSyncMetricsOf = async (
    networkNameValue: string,
    nodeId: string,
  ): Promise<NonNullable<NodeReconciliation['ledgerSync']>> => {
    try {
      const jolokia = await jolokiaOf(networkNameValue, nodeId);
      const key = `${networkNameValue}/${nodeId}`;
      let mbean = ledgerSyncBeans.get(key);
      if (!mbean) {
        const found = await jolokia.findByAttributes([...LEDGER_SYNC_METRICS]);
        if (found.length !== 1)
          return {
            unavailable: found.length
              ? `several MBeans carry LedgerSync's metrics (${found.join(', ')})`
              : "no MBean carries LedgerSync's metrics (is the LedgerSync CorDapp installed?)",
          };
        mbean = found[0]!;
        ledgerSyncBeans.set(key, mbean);
      }
      const values = ledgerSyncMetrics.parse(await jolokia.readAttributes(mbean, [...LEDGER_SYNC_METRICS]));
      return {
        mbean,
        failed: values.NumberOfFailedReconciliations,
        withDifferences: values.NumberOfReconciliationsWithDifferences,
      };
    } catch (err) {
      return { unavailable: `Jolokia: ${(err as Error).message}` };
    }
  };

  /** A shell or flow failure: the node not answering is worth retrying; the rest is the workflow's answer. */
  const flow = async <T>(what: () => Promise<T>): Promise<T> => {
    try {
      return await what();
    } catch (err) {
      if (err instanceof CordaShellUnreachableError) throw ApplicationFailure.retryable(err.message, 'NodeUnreachable');
      if (err instanceof CordaFlowError)
        throw ApplicationFailure.nonRetryable(err.message, err.exception, { exception: err.exception });
      throw err;
    }
  };
  const folderOf = (network: { corda: { archiveDirectory: string } }, nodeId: string, id: string) =>
    path.join(network.corda.archiveDirectory, nodeId, id);

  async function withDatabase<T>(
    networkNameValue: string,
    nodeId: string,
    work: (client: Client, schema: string) => Promise<T>,
  ) {
    const { node, field } = lookup(networkNameValue, nodeId);
    if (!node.database) throw invalidInput(`${field}.database: required for checkpoint cleanup`);
    const db = node.database;
    const password = await readSecret(db.password, `${field}.database.password`);
    const client = new Client({
      host: db.host,
      port: db.port,
      user: db.user,
      password: password.reveal(),
      database: db.database,
    });
    await client.connect();
    try {
      return await work(client, db.schema);
    } finally {
      await client.end();
    }
  }

  return {
    async describeCordaNetwork(input: { network: string }): Promise<CordaPlan> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cordaNetwork(args.network);
      const nodes = network.nodes as CordaNodeConfig[];
      return {
        network: args.network,
        generation: network.corda.generation,
        nodes: nodes.map((n) => ({
          id: n.id,
          party: n.party,
          peers: peersOf(n, nodes),
        })),
        reconciliation: network.corda.reconciliation,
        recoveryWindowHours: network.corda.recoveryWindowHours,
        alertWebhooks: deps.config.alerts.webhooks.map((w) => w.name),
      };
    },

    /**
     * The scheduled reconciliation's view of the network: node ids and peer counts only, so the workflow's
     * history stays small for networks of thousands of node–peer pairs; each node's activity reads its peers.
     */
    async describeCordaReconciliation(input: { network: string }): Promise<CordaReconciliationPlan> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cordaNetwork(args.network);
      const nodes = network.nodes as CordaNodeConfig[];
      return {
        network: args.network,
        nodes: nodes.map((n) => ({ id: n.id, peers: peersOf(n, nodes).length })),
        reconciliation: network.corda.reconciliation,
        alertWebhooks: deps.config.alerts.webhooks.map((w) => w.name),
      };
    },

    /**
     * A node is stopped when no process holds the lock on `<base>/process-id` (the kernel's lock table) and its
     * Jolokia endpoint does not answer. Either one says "running".
     */
    async checkCordaNodeStopped(input: { network: string; node: string }): Promise<StoppedCheck> {
      const args = parseInput(nodeRef, input);
      const { node } = lookup(args.network, args.node);
      const evidence: string[] = [];
      let running = false;
      const lockFile = path.join(node.baseDirectory, 'process-id');
      const holder = await lockHolderOf(lockFile);
      if (holder) {
        running = true;
        evidence.push(`${lockFile} is locked by process ${holder}`);
      } else evidence.push(`no process holds ${lockFile}`);
      try {
        const status = await (
          await jolokiaOf(args.network, args.node)
        ).read('net.corda:type=Node,name=Status', 'Value');
        running = true;
        evidence.push(`Jolokia answers: status ${String(status)}`);
      } catch (err) {
        if (!(err instanceof JolokiaUnreachableError)) {
          running = true;
          evidence.push(`Jolokia answers (with an error: ${(err as Error).message})`);
        } else evidence.push('Jolokia does not answer');
      }
      return { stopped: !running, evidence };
    },

    /** The node's status MBean, or `unreachable`. */
    async cordaNodeStatus(input: { network: string; node: string }): Promise<string> {
      const args = parseInput(nodeRef, input);
      try {
        return String(
          await (await jolokiaOf(args.network, args.node)).read('net.corda:type=Node,name=Status', 'Value'),
        );
      } catch (err) {
        if (err instanceof JolokiaUnreachableError) return 'unreachable';
        throw err;
      }
    },

    /**
     * Exports every row of the five checkpoint tables (keyset pages, so memory stays flat) into
     * `<archive>/<node>/<work>/checkpoints.jsonl`, with a manifest of row counts, counts by status and SHA-256.
     * Written beside and renamed when complete; done already for this run: the archive is returned as it is.
     */
    async archiveCordaCheckpoints(input: {
      network: string;
      node: string;
      workId: string;
    }): Promise<CheckpointArchive> {
      const args = parseInput(nodeRef.extend({ workId }), input);
      const { network } = lookup(args.network, args.node);
      const folder = folderOf(network, args.node, args.workId);
      const file = path.join(folder, 'checkpoints.jsonl');
      const manifestFile = path.join(folder, 'checkpoints.manifest.json');
      if (await exists(manifestFile)) return JSON.parse(await readFile(manifestFile, 'utf8')) as CheckpointArchive;
      await mkdir(folder, { recursive: true, mode: 0o700 });
      const partial = `${file}.partial-${activityAttempt()}`;
      const out = createDumpFile(partial);
      const hash = createHash('sha256');
      let bytes = 0;
      const write = async (line: string) => {
        hash.update(line);
        bytes += Buffer.byteLength(line);
        if (!out.write(line)) await once(out, 'drain');
      };
      const rows: Record<string, number> = {};
      const flowIds = new Set<string>();
      const byStatus: Record<string, number> = {};
      await withHeartbeats(
        () =>
          withDatabase(args.network, args.node, async (client, schema) => {
            for (const table of CHECKPOINT_TABLES) {
              rows[table] = 0;
              let after = '';
              for (;;) {
                const page = await client.query<{ flow_id: string; row: string }>(
                  `select flow_id, row_to_json(t)::text as row from ${quoteIdent(schema)}.${table} t where flow_id > $1 order by flow_id limit 1000`,
                  [after],
                );
                for (const r of page.rows) {
                  await write(`{"table":"${table}","row":${r.row}}\n`);
                  flowIds.add(r.flow_id);
                  rows[table]!++;
                }
                if (page.rows.length < 1000) break;
                after = page.rows[page.rows.length - 1]!.flow_id;
              }
            }
            const statuses = await client.query<{ status: number; n: string }>(
              `select status, count(*) as n from ${quoteIdent(schema)}.node_checkpoints group by status`,
            );
            for (const s of statuses.rows) byStatus[CHECKPOINT_STATUS[s.status] ?? `status ${s.status}`] = Number(s.n);
          }),
        () => ({ bytes }),
      );
      out.end();
      await once(out, 'close');
      await rename(partial, file);
      // Exports of attempts whose worker died are incomplete by construction.
      for (const name of await readdir(folder)) {
        if (name.startsWith('checkpoints.jsonl.partial-')) await rm(path.join(folder, name), { force: true });
      }
      const archive: CheckpointArchive = {
        file,
        sha256: hash.digest('hex'),
        bytes,
        rows,
        byStatus,
        flowIds: flowIds.size,
      };
      await writeFile(`${manifestFile}.partial`, JSON.stringify(archive, null, 2), { mode: 0o600 });
      await rename(`${manifestFile}.partial`, manifestFile);
      return archive;
    },

    /**
     * Deletes the archived rows, in one transaction and in the node's order, after checking the archive still
     * matches its checksum. Only rows that are in the archive are deleted; a second run deletes nothing more.
     */
    async deleteCordaCheckpoints(input: {
      network: string;
      node: string;
      workId: string;
    }): Promise<Record<string, number>> {
      const args = parseInput(nodeRef.extend({ workId }), input);
      const { network } = lookup(args.network, args.node);
      const folder = folderOf(network, args.node, args.workId);
      const manifest = JSON.parse(
        await readFile(path.join(folder, 'checkpoints.manifest.json'), 'utf8'),
      ) as CheckpointArchive;
      const archived = await archivedFlowIds(manifest);
      return withDatabase(args.network, args.node, async (client, schema) => {
        const deleted: Record<string, number> = {};
        await client.query('begin');
        try {
          for (const table of CHECKPOINT_TABLES) {
            const ids = [...archived.get(table)!];
            const result = await client.query(
              `delete from ${quoteIdent(schema)}.${table} where flow_id = any($1::text[])`,
              [ids],
            );
            deleted[table] = result.rowCount ?? 0;
          }
          await client.query('commit');
        } catch (err) {
          await client.query('rollback');
          throw err;
        }
        return deleted;
      });
    },

    /** The gentler cleanup: the node's `startPaused` command (`--pause-all-flows`). */
    async startCordaNodePaused(input: { network: string; node: string }): Promise<void> {
      const args = parseInput(nodeRef, input);
      const { network, node, field } = lookup(args.network, args.node);
      if (!node.startPaused) {
        throw invalidInput(
          `${field}.startPaused: not configured; add the command that starts the node with --pause-all-flows`,
        );
      }
      const executor = createExecutor(node.executor ?? network.executor, `${field}.executor`);
      const command = renderCommand(node.startPaused, { network: args.network, node: node.id });
      const result = await withHeartbeats((signal) => executor.run(command, { timeoutMs: 600_000, signal }));
      if (result.exitCode !== 0) {
        throw ApplicationFailure.retryable(
          `startPaused of ${node.id} exited ${result.exitCode ?? result.signal}: ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`,
          'LauncherFailed',
        );
      }
    },

    /**
     * Kills, through the shell, every flow the archive holds a checkpoint for (the node, started with
     * --pause-all-flows, removes a killed flow's checkpoint itself). A flow already gone is counted, not an error.
     */
    async killCordaPausedFlows(input: {
      network: string;
      node: string;
      workId: string;
    }): Promise<{ killed: number; gone: number }> {
      const args = parseInput(nodeRef.extend({ workId }), input);
      const { network } = lookup(args.network, args.node);
      const manifest = JSON.parse(
        await readFile(path.join(folderOf(network, args.node, args.workId), 'checkpoints.manifest.json'), 'utf8'),
      ) as CheckpointArchive;
      const ids = [...(await archivedFlowIds(manifest)).get('node_checkpoints')!];
      const shell = shellOf(args.network, args.node);
      const outcome = { killed: 0, gone: 0 };
      await withHeartbeats(
        () =>
          flow(async () => {
            for (const id of ids) {
              if ((await shell.rpc('killFlow', { id })) === 'true') outcome.killed++;
              else outcome.gone++;
            }
          }),
        () => outcome,
      );
      return outcome;
    },

    /** Rows left in the checkpoint tables. */
    async countCordaCheckpoints(input: { network: string; node: string }): Promise<Record<string, number>> {
      const args = parseInput(nodeRef, input);
      return withDatabase(args.network, args.node, async (client, schema) => {
        const counts: Record<string, number> = {};
        for (const table of CHECKPOINT_TABLES)
          counts[table] = Number(
            (await client.query(`select count(*) as n from ${quoteIdent(schema)}.${table}`)).rows[0].n,
          );
        return counts;
      });
    },

    /** Moves `artemis/` and `brokers/` aside to `<base>/quarantine-<work>/`: never deleted. */
    async quarantineCordaQueues(input: { network: string; node: string; workId: string }): Promise<QueueQuarantine> {
      const args = parseInput(nodeRef.extend({ workId }), input);
      const { node } = lookup(args.network, args.node);
      const target = path.join(node.baseDirectory, `quarantine-${args.workId}`);
      await mkdir(target, { recursive: true, mode: 0o700 });
      const moved: QueueQuarantine['moved'] = [];
      for (const name of ['artemis', 'brokers']) {
        const from = path.join(node.baseDirectory, name);
        const to = path.join(target, name);
        if (await exists(to)) moved.push({ from, to });
        else if (await exists(from)) {
          await rename(from, to);
          moved.push({ from, to });
        }
      }
      return { moved };
    },

    async cordaReconciliationStatuses(input: { network: string; node: string }): Promise<ReconciliationView[]> {
      const args = parseInput(nodeRef, input);
      return statusesOf(shellOf(args.network, args.node));
    },

    /**
     * Reconciles a node with `parties` (LedgerSync): queues the reconciliation, backing off while a peer is
     * busy, then reads statuses until none is in progress; one stuck longer than the network's limit is killed
     * and stopped, as Corda's docs require. Retried after a crash it finds its reconciliations already queued
     * and simply waits for them.
     */
    async reconcileCordaNode(input: {
      network: string;
      node: string;
      /** These parties; or, when absent, the node's configured peers (`sampleSize` of them, chosen by `sampleSeed`). */
      parties?: string[];
      sampleSize?: number;
      sampleSeed?: string;
      pollIntervalMs: number;
      busyBackoffMs: number;
      timeoutMs: number;
    }): Promise<NodeReconciliation> {
      const parsed = parseInput(
        nodeRef.extend({
          parties: z.array(party).min(1).optional(),
          sampleSize: z.number().int().min(1).optional(),
          sampleSeed: z.string().min(1).max(200).optional(),
          pollIntervalMs: z.number().int().min(10),
          busyBackoffMs: z.number().int().min(10),
          timeoutMs: z.number().int().min(100),
        }),
        input,
      );
      const { network, node: me } = lookup(parsed.network, parsed.node);
      const parties =
        parsed.parties ??
        samplePeersBySeed(peersOf(me, network.nodes as CordaNodeConfig[]), parsed.sampleSize, parsed.sampleSeed ?? '');
      if (parties.length === 0) throw invalidInput(`node ${parsed.node} has no peers to reconcile with`);
      const args = { ...parsed, parties };
      const shell = shellOf(args.network, args.node);
      const stuckAfterMs = network.corda.reconciliation.stuckAfterMinutes * 60_000;
      const started = Date.now();
      const outcome: NodeReconciliation = {
        node: args.node,
        parties: args.parties.length,
        results: [],
        stopped: [],
        busy: 0,
      };
      const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      return withHeartbeats(
        () =>
          flow(async () => {
            const schedule = async (parties: string[]): Promise<void> => {
              for (;;) {
                try {
                  await shell.startFlow('ScheduleReconciliationFlow', { parties });
                  return;
                } catch (err) {
                  if (!(err instanceof CordaFlowError)) throw err;
                  if (err.exception === 'ReconciliationAlreadyScheduledException') {
                    // Queue the others one by one; the one already queued is simply awaited.
                    if (parties.length > 1) for (const p of parties) await schedule([p]);
                    return;
                  }
                  if (err.exception !== 'MaxIncomingSessionsExceededException') throw err;
                  if (Date.now() - started > args.timeoutMs) throw err;
                  await pause(Math.min(args.busyBackoffMs * 2 ** outcome.busy++, 600_000));
                }
              }
            };
            await schedule(args.parties);
            const wanted = new Set(args.parties);
            for (;;) {
              const views = (await statusesOf(shell)).filter((v) => wanted.has(v.party));
              const pending = views.filter((v) => v.status === 'IN_PROGRESS');
              const stuck = Date.now() - started > stuckAfterMs ? pending : [];
              for (const v of stuck) {
                if (v.flowId) await shell.rpc('killFlow', { id: v.flowId });
                await shell.startFlow('StopReconciliationForPartyFlow', { party: v.party });
                outcome.stopped.push(v.party);
              }
              if (pending.length === stuck.length && views.length >= wanted.size) {
                outcome.results = views.map((v) => ({
                  party: v.party,
                  status: stuck.includes(v) ? 'STOPPED' : v.status,
                  missing: v.missing,
                  ...(stuck.includes(v) ? { error: 'stuck; killed and stopped' } : v.error ? { error: v.error } : {}),
                }));
                outcome.ledgerSync = await ledgerSyncMetricsOf(args.network, args.node);
                return outcome;
              }
              if (Date.now() - started > args.timeoutMs) {
                throw ApplicationFailure.retryable(
                  `reconciliation of ${args.node} still in progress with ${pending.length} parties after ${args.timeoutMs / 1000}s`,
                  'ReconciliationTimeout',
                );
              }
              await pause(args.pollIntervalMs);
            }
          }),
        () => ({ busy: outcome.busy }),
      );
    },

    /** In-flight transactions are false positives: statuses are synchronised with the vault. */
    async refreshCordaReconciliation(input: { network: string; node: string }): Promise<void> {
      const args = parseInput(nodeRef, input);
      await flow(() => shellOf(args.network, args.node).startFlow('RefreshReconciliationStatusesFlow'));
    },

    /**
     * AutomaticLedgerRecoverFlow returns nothing (FACTS.md §2): what it recovered is read from the recovery
     * request it leaves (GetRecoveryRequestsFlow), polled while IN_PROGRESS.
     */
    async recoverCordaAutomatically(input: {
      network: string;
      node: string;
      party: string;
      pollIntervalMs?: number;
      timeoutMs?: number;
    }): Promise<AutomaticRecovery> {
      const args = parseInput(
        nodeRef.extend({
          party,
          pollIntervalMs: z.number().int().min(10).default(2000),
          timeoutMs: z.number().int().min(100).default(3_600_000),
        }),
        input,
      );
      const shell = shellOf(args.network, args.node);
      const started = Date.now();
      try {
        await shell.startFlow('AutomaticLedgerRecoverFlow', { party: args.party });
      } catch (err) {
        if (err instanceof CordaFlowError && LIMIT_EXCEPTIONS.includes(err.exception))
          return { outcome: 'limit', exception: err.exception, message: err.message };
        return flow(() => Promise.reject(err));
      }
      return withHeartbeats(() =>
        flow(async () => {
          for (;;) {
            const request = await newestRecoveryRequest(shell, args.party, false);
            if (request?.recoveryStatusFlag === 'COMPLETED')
              return { outcome: 'recovered', transactions: (request.requestedTransactionIDs ?? []).length } as const;
            if (request?.recoveryStatusFlag === 'FAILED') {
              const named = LIMIT_EXCEPTIONS.find((e) => request.failureReason?.includes(e));
              return {
                outcome: 'limit',
                exception: named ?? 'AutomaticRecoveryException',
                message: `recovery request ${request.recoveryID} failed: ${request.failureReason || 'no reason given'}`,
              } as const;
            }
            if (Date.now() - started > args.timeoutMs)
              throw ApplicationFailure.retryable(
                `automatic recovery from ${args.party} has no completed request after ${args.timeoutMs / 1000}s (${request ? `request ${request.recoveryID} is ${request.recoveryStatusFlag}` : 'no request found'})`,
                'RecoveryTimeout',
              );
            await new Promise((resolve) => setTimeout(resolve, args.pollIntervalMs));
          }
        }),
      );
    },

    /** InitiateManualRecoveryFlow returns the RecoveryRequest (REQUESTED, manual); its recoveryID is the request id. */
    async initiateCordaManualRecovery(input: { network: string; node: string; party: string }): Promise<string> {
      const args = parseInput(nodeRef.extend({ party }), input);
      const raw = await flow(() =>
        shellOf(args.network, args.node).startFlow('InitiateManualRecoveryFlow', { party: args.party }),
      );
      return parseResponse(recoveryRequest, raw, 'InitiateManualRecoveryFlow').recoveryID;
    },

    /**
     * Opens the peer's sealed archive into an owner-only file, imports it, completes the request and removes the
     * opened copy. The sealed archive stays until the re-reconciliation is clean.
     */
    async importCordaRecoveryArchive(input: {
      network: string;
      node: string;
      requestId: string;
      archive: string;
      workId: string;
    }): Promise<number> {
      const args = parseInput(
        nodeRef.extend({ requestId: z.string().min(1), archive: z.string().min(1), workId }),
        input,
      );
      const { network } = lookup(args.network, args.node);
      const field = `networks.${args.network}.corda.archiveEncryptionKey`;
      let plain: Buffer;
      try {
        plain = unseal(await readFile(args.archive), await sealingKey(network.corda.archiveEncryptionKey, field));
      } catch (err) {
        if (err instanceof SealError) {
          throw ApplicationFailure.nonRetryable(
            `the recovery archive ${args.archive}: ${err.message}; the peer must seal it with the key in ${field}`,
            'ArchiveCorrupt',
          );
        }
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          throw ApplicationFailure.nonRetryable(`no recovery archive at ${args.archive}`, 'NoArchive');
        throw err;
      }
      // The archive is a VaultArchive folder (`<requestId>/` with attachments/, network-parameters/,
      // recovery-description and transactions/) as ExportTransactionsFlow writes it, carried as a tar.
      const folder = folderOf(network, args.node, args.workId);
      const opened = path.join(folder, `import-${args.requestId}`);
      await rm(opened, { recursive: true, force: true });
      await mkdir(opened, { recursive: true, mode: 0o700 });
      try {
        const transactions = await unpackVaultArchive(plain, opened, args.requestId, args.archive);
        plain.fill(0);
        const shell = shellOf(args.network, args.node);
        const status = () =>
          flow(async () => {
            const raw = await shell.startFlow('GetRecoveryRequestsFlow', { isRequester: true });
            return parseResponse(recoveryRequests, raw ?? [], 'GetRecoveryRequestsFlow').find(
              (r) => r.recoveryID === args.requestId,
            )?.recoveryStatusFlag;
          });
        // A retry after the import completed the request (the worker died after it) imports nothing again.
        if ((await status()) === 'COMPLETED') return transactions;
        await flow(() => shell.startFlow('ImportTransactionsFlow', { requestId: args.requestId, path: opened }));
        // Importing marks the request complete (FACTS.md §2); complete it where it did not.
        if ((await status()) !== 'COMPLETED')
          await flow(() => shell.startFlow('CompleteManualRecoveryFlow', { requestId: args.requestId }));
        return transactions;
      } finally {
        await rm(opened, { recursive: true, force: true });
      }
    },

    /** After a clean re-reconciliation the archive has served its purpose: it holds ledger data in the clear once opened. */
    async discardCordaRecoveryArchive(input: { network: string; archive: string }): Promise<void> {
      const args = parseInput(z.strictObject({ network: networkName, archive: z.string().min(1) }), input);
      cordaNetwork(args.network);
      await rm(args.archive, { force: true });
    },

    /** Corda 4.12: LedgerRecoveryFlow over a time window, as a dry run first. */
    async runCordaLedgerRecovery(input: {
      network: string;
      node: string;
      peers: string[];
      fromTime: string;
      untilTime: string;
      dryRun: boolean;
    }): Promise<LedgerRecoveryResult> {
      const args = parseInput(
        nodeRef.extend({
          peers: z.array(party).min(1),
          fromTime: z.iso.datetime(),
          untilTime: z.iso.datetime(),
          dryRun: z.boolean(),
        }),
        input,
      );
      const raw = await flow(() =>
        shellOf(args.network, args.node).startFlow('LedgerRecoveryFlow', {
          recoveryPeers: args.peers,
          timeWindow: { fromTime: args.fromTime, untilTime: args.untilTime },
          dryRun: args.dryRun,
        }),
      );
      const { $class: _class, ...result } = parseResponse(ledgerRecoveryResponse, raw, 'LedgerRecoveryFlow');
      return result;
    },
  };
}

/** This node's reconciliations as requester: GetReconciliationStatusesFlow, with its documented `isRequester`. */
async function statusesOf(shell: CordaShell): Promise<ReconciliationView[]> {
  const raw = await shell.startFlow('GetReconciliationStatusesFlow', { isRequester: true });
  const statuses = parseResponse(statusesResponse, raw ?? [], 'GetReconciliationStatusesFlow');
  return statuses.map((s) => ({
    party: s.partyName,
    status: s.lastReconciliationStatus,
    missing:
      s.lastReconciliationStatus === 'DIFFERENCES_FOUND' ? (s.lastSuccessfulReconciliationResult ?? []).length : 0,
    ...(s.lastReconciliationError ? { error: s.lastReconciliationError } : {}),
    ...(s.stateMachineRunId ? { flowId: s.stateMachineRunId } : {}),
  }));
}

/** The newest of this node's recovery requests with `party` (GetRecoveryRequestsFlow), automatic or manual. */
async function newestRecoveryRequest(shell: CordaShell, party: string, manual: boolean) {
  const raw = await shell.startFlow('GetRecoveryRequestsFlow', { party, isRequester: true });
  const requests = parseResponse(recoveryRequests, raw ?? [], 'GetRecoveryRequestsFlow');
  return requests.filter((r) => r.isManual === manual).sort((a, b) => (b.timeStarted ?? 0) - (a.timeStarted ?? 0))[0];
}

/** Flow ids per table in a checkpoint archive, after checking it against its checksum. */
async function archivedFlowIds(manifest: CheckpointArchive): Promise<Map<string, Set<string>>> {
  const archived = new Map<string, Set<string>>(CHECKPOINT_TABLES.map((t) => [t, new Set()]));
  const hash = createHash('sha256');
  let text = '';
  for await (const chunk of createReadStream(manifest.file)) {
    hash.update(chunk as Buffer);
    text += (chunk as Buffer).toString();
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const line of lines) {
      const { table, row } = JSON.parse(line) as { table: string; row: { flow_id: string } };
      archived.get(table)?.add(row.flow_id);
    }
  }
  if (hash.digest('hex') !== manifest.sha256) {
    throw ApplicationFailure.nonRetryable(
      `the checkpoint archive ${manifest.file} does not match its checksum; nothing was deleted`,
      'ArchiveCorrupt',
    );
  }
  return archived;
}

/**
 * Unpacks a tar of `<requestId>/…` into `into`, refusing anything outside that folder or other than plain
 * files and folders; returns how many transactions it holds.
 */
async function unpackVaultArchive(tarBytes: Buffer, into: string, requestId: string, source: string): Promise<number> {
  const refused: string[] = [];
  const parser = new tar.Unpack({
    cwd: into,
    strict: true,
    // Owner-only, whatever modes the peer's tar carries: the files are ledger data in the clear.
    umask: 0o077,
    preservePaths: false,
    filter: (entryPath, entry) => {
      const type = (entry as { type?: string }).type;
      const inside = entryPath === requestId || entryPath.startsWith(`${requestId}/`);
      const ok = inside && (type === 'File' || type === 'Directory');
      if (!ok) refused.push(entryPath);
      return ok;
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('error', reject);
    parser.on('close', resolve);
    parser.end(tarBytes);
  }).catch((err: Error) => {
    throw ApplicationFailure.nonRetryable(
      `the recovery archive ${source} is not a tar: ${err.message}`,
      'ArchiveCorrupt',
    );
  });
  if (refused.length)
    throw ApplicationFailure.nonRetryable(
      `the recovery archive ${source} holds ${refused.slice(0, 3).join(', ')}, outside the VaultArchive folder ${requestId}/`,
      'ArchiveCorrupt',
    );
  const transactions = path.join(into, requestId, 'transactions');
  if (!(await exists(transactions)))
    throw ApplicationFailure.nonRetryable(
      `the recovery archive ${source} has no ${requestId}/transactions/ folder; is it the export for request ${requestId}?`,
      'ArchiveCorrupt',
    );
  return (await readdir(transactions)).length;
}

/** The pid holding a lock on `file`, from the kernel's lock table (/proc/locks lists locks by inode). */
async function lockHolderOf(file: string): Promise<number | undefined> {
  let inode: number;
  try {
    inode = (await stat(file)).ino;
  } catch {
    return undefined;
  }
  const locks = await readFile('/proc/locks', 'utf8').catch(() => '');
  for (const line of locks.split('\n')) {
    // 1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF
    const m = /^\d+:\s+\S+\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
    if (m && Number(m[2]) === inode) return Number(m[1]);
  }
  return undefined;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** A node's peers: the configured ones, or every other node of the network. */
function peersOf(node: CordaNodeConfig, nodes: CordaNodeConfig[]): string[] {
  return node.peers ?? nodes.filter((o) => o.id !== node.id).map((o) => o.party);
}

/**
 * `size` of `peers`, chosen at random but the same for the same seed: a retried activity reconciles the same
 * peers, and each scheduled run (its own seed) a different subset.
 */
export function samplePeersBySeed(peers: string[], size: number | undefined, seed: string): string[] {
  if (!size || size >= peers.length) return peers;
  const key = (p: string) => createHash('sha256').update(`${seed}\0${p}`).digest('hex');
  return peers
    .map((p) => ({ p, k: key(p) }))
    .sort((a, b) => (a.k < b.k ? -1 : 1))
    .slice(0, size)
    .map((x) => x.p);
}
