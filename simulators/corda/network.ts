/**
 * A simulated Corda business network: nodes with vaults of transaction ids, the Collaborative Recovery
 * CorDapps' flows (LedgerSync reconciliation, automatic and manual LedgerRecover) and Corda 4.12's
 * LedgerRecoveryFlow, with the faults operators meet. The SSH shell (shell.ts) and Jolokia (jolokia.ts) are
 * thin wire-format layers over this state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, type ClientConfig } from 'pg';

export type ReconciliationState = 'IN_PROGRESS' | 'DIFFERENCES_FOUND' | 'DIFFERENCES_NOT_FOUND' | 'FAILED' | 'STOPPED';
export type NodeStatus = 'WAITING_TO_START' | 'STARTING' | 'STARTED' | 'STOPPING';

export interface ReconciliationStatus {
  party: string;
  status: ReconciliationState;
  flowId?: string;
  error?: string;
  missing: string[];
}

export interface NodeFaults {
  /** Reconciling with this node fails with MaxIncomingSessionsExceededException this many times. */
  busy: number;
  /** Reconciliations with these peers stay IN_PROGRESS until killed. */
  stuckWith: Set<string>;
  /** Reconciliations with these peers end FAILED (the peer lacks the CorDapps, or is down). */
  failingWith: Set<string>;
  /** The launcher's stop does nothing. */
  refusesToStop: boolean;
  /** Shell flows that take this long (ms) before they act and answer, by flow name. */
  slowFlows: Map<string, number>;
}

/** LedgerRecover's published limits. */
export const RECOVERY_LIMITS = { transactionsPerRequest: 30, requestsPerHour: 30, bytesPerHour: 3_000_000 };

export class SimulatedCordaNode {
  status: NodeStatus = 'WAITING_TO_START';
  vault = new Set<string>();
  /** Transactions still in flight: they reach the vault by the time statuses are refreshed. */
  inFlight = new Set<string>();
  reconciliations = new Map<string, ReconciliationStatus>();
  faults: NodeFaults = {
    busy: 0,
    stuckWith: new Set(),
    failingWith: new Set(),
    refusesToStop: false,
    slowFlows: new Map(),
  };
  /** Every flow started through the shell, in order (name and arguments as typed). */
  flowLog: string[] = [];
  starts = 0;
  killedFlows: string[] = [];
  recoveryRequests = new Map<string, { party: string; kind: 'manual' | 'automatic'; state: string }>();
  recoveryUsage = { requests: 0, bytes: 0 };
  private lockHolder?: ChildProcess;
  /** Started with --pause-all-flows: checkpointed flows wait, and `run killFlow` removes their checkpoints. */
  flowsPaused = false;
  startedPaused = 0;
  /** The node's own database (its checkpoint tables), when the test gives it one. */
  database?: ClientConfig;

  constructor(
    readonly network: CordaBusinessNetwork,
    readonly id: string,
    readonly party: string,
    readonly baseDirectory: string,
  ) {
    mkdirSync(baseDirectory, { recursive: true });
  }

  get running(): boolean {
    return this.status === 'STARTED' || this.status === 'STARTING';
  }

  /** Starts the node: it takes the lock on `process-id`, as Corda does, and answers on Jolokia and SSH. */
  start(options: { pauseAllFlows?: boolean } = {}): void {
    if (this.running) return;
    this.starts++;
    this.flowsPaused = options.pauseAllFlows === true;
    if (this.flowsPaused) this.startedPaused++;
    const lockFile = path.join(this.baseDirectory, 'process-id');
    writeFileSync(lockFile, String(process.pid));
    // One process takes the lock and becomes the holder (exec keeps the descriptor), so killing it frees it.
    this.lockHolder = spawn('sh', ['-c', 'exec 9>>"$1"; flock -x 9; exec sleep 86400', 'lock', lockFile], {
      stdio: 'ignore',
    });
    this.lockHolder.unref();
    this.status = 'STARTED';
  }

  stop(): void {
    if (this.faults.refusesToStop || !this.running) return;
    this.lockHolder?.kill('SIGKILL');
    this.lockHolder = undefined;
    this.status = 'WAITING_TO_START';
  }

  /** Runs one shell flow; returns its result (rendered as YAML by the shell) or throws a Corda exception. */
  runFlow(name: string, args: Record<string, unknown>): unknown {
    if (this.status !== 'STARTED') throw new CordaException('IllegalStateException', 'node is not started');
    this.flowLog.push(name);
    switch (name) {
      case 'ScheduleReconciliationFlow':
        return this.schedule(stringList(args.parties, 'parties'));
      case 'GetReconciliationStatusesFlow':
        return [...this.reconciliations.values()].map((r) => ({
          party: r.party,
          status: r.status,
          ...(r.error ? { error: r.error } : {}),
          lastSuccessfulReconciliationResult:
            r.status === 'DIFFERENCES_FOUND' || r.status === 'DIFFERENCES_NOT_FOUND'
              ? { missingTransactions: r.missing }
              : null,
          ...(r.flowId ? { flowId: r.flowId } : {}),
        }));
      case 'RefreshReconciliationStatusesFlow':
        for (const tx of this.inFlight) this.vault.add(tx);
        this.inFlight.clear();
        for (const r of this.reconciliations.values()) this.refreshDifferences(r);
        return null;
      case 'StopReconciliationForPartyFlow': {
        const r = this.reconciliations.get(String(args.party));
        if (r) r.status = 'STOPPED';
        return null;
      }
      case 'AutomaticLedgerRecoverFlow':
        return this.automaticRecovery(String(args.party));
      case 'InitiateManualRecoveryFlow': {
        const requestId = randomUUID();
        this.recoveryRequests.set(requestId, { party: String(args.party), kind: 'manual', state: 'INITIATED' });
        return requestId;
      }
      case 'ExportTransactionsFlow':
        return this.exportFor(String(args.requestId), String(args.path));
      case 'ImportTransactionsFlow':
        return this.importFrom(String(args.requestId), String(args.path));
      case 'CompleteManualRecoveryFlow':
      case 'FailManualRecoveryFlow': {
        const request = this.recoveryRequests.get(String(args.requestId));
        if (!request) throw new CordaException('IllegalArgumentException', `no recovery request ${args.requestId}`);
        request.state = name === 'CompleteManualRecoveryFlow' ? 'COMPLETED' : 'FAILED';
        return null;
      }
      case 'LedgerRecoveryFlow':
        return this.ledgerRecovery(args);
      default:
        throw new CordaException('IllegalArgumentException', `no matching constructor found for flow ${name}`);
    }
  }

  /** `run killFlow id: <uuid>`: a paused flow's checkpoint rows go; a running reconciliation fails. */
  async killFlow(flowId: string): Promise<boolean> {
    this.killedFlows.push(flowId);
    for (const r of this.reconciliations.values()) {
      if (r.flowId === flowId && r.status === 'IN_PROGRESS') {
        r.status = 'FAILED';
        r.error = 'flow killed';
        return true;
      }
    }
    if (!this.flowsPaused || !this.database) return false;
    const client = new Client(this.database);
    await client.connect();
    try {
      let removed = 0;
      for (const table of [
        'node_checkpoints',
        'node_checkpoint_blobs',
        'node_flow_results',
        'node_flow_exceptions',
        'node_flow_metadata',
      ])
        removed += (await client.query(`delete from ${table} where flow_id = $1`, [flowId])).rowCount ?? 0;
      return removed > 0;
    } finally {
      await client.end();
    }
  }

  private schedule(parties: string[]): null {
    // The peer answering "too many sessions" is what the initiating node reports.
    const busyPeer = parties.map((p) => this.network.byParty(p)).find((n) => n && n.faults.busy > 0);
    if (busyPeer) {
      busyPeer.faults.busy--;
      throw new CordaException(
        'MaxIncomingSessionsExceededException',
        'the node has reached its maximum number of reconciliation sessions; try again later',
      );
    }
    const already = parties.find((p) => this.reconciliations.get(p)?.status === 'IN_PROGRESS');
    if (already) {
      throw new CordaException(
        'ReconciliationAlreadyScheduledException',
        `reconciliation with ${already} is already scheduled`,
      );
    }
    for (const party of parties) {
      const status: ReconciliationStatus = { party, status: 'IN_PROGRESS', flowId: randomUUID(), missing: [] };
      this.reconciliations.set(party, status);
      // Reconciliation runs in the background; the result is there by the next status read.
      setImmediate(() => this.finishReconciliation(status));
    }
    return null;
  }

  private finishReconciliation(r: ReconciliationStatus): void {
    if (r.status !== 'IN_PROGRESS' || this.faults.stuckWith.has(r.party)) return;
    const peer = this.network.byParty(r.party);
    if (!peer || this.faults.failingWith.has(r.party)) {
      r.status = 'FAILED';
      r.error = peer ? `${r.party} did not respond: FlowException` : `unknown party ${r.party}`;
      return;
    }
    this.refreshDifferences(r);
  }

  private refreshDifferences(r: ReconciliationStatus): void {
    if (r.status !== 'DIFFERENCES_FOUND' && r.status !== 'DIFFERENCES_NOT_FOUND' && r.status !== 'IN_PROGRESS') return;
    r.missing = this.missingFrom(r.party);
    r.status = r.missing.length ? 'DIFFERENCES_FOUND' : 'DIFFERENCES_NOT_FOUND';
    r.flowId = undefined;
  }

  /** Transactions the peer shares with this node that this node's vault lacks (in-flight ones included). */
  missingFrom(party: string): string[] {
    const peer = this.network.byParty(party);
    if (!peer) return [];
    return [...this.network.sharedBetween(this.party, party)].filter((tx) => !this.vault.has(tx)).sort();
  }

  private automaticRecovery(party: string): { recoveredTransactions: number } {
    const missing = this.missingFrom(party);
    if (missing.length > RECOVERY_LIMITS.transactionsPerRequest) {
      throw new CordaException(
        'TransactionLimitExceededException',
        `${missing.length} transactions to recover exceed the limit of ${RECOVERY_LIMITS.transactionsPerRequest} per request`,
      );
    }
    if (this.recoveryUsage.requests >= RECOVERY_LIMITS.requestsPerHour) {
      throw new CordaException('RequestLimitExceededException', 'too many recovery requests in the last hour');
    }
    this.recoveryUsage.requests++;
    let recovered = 0;
    for (const tx of missing) {
      const size = this.network.sizeOf(tx);
      if (this.recoveryUsage.bytes + size > RECOVERY_LIMITS.bytesPerHour) {
        this.refreshAll();
        throw new CordaException(
          'SizeLimitExceededException',
          `recovered ${recovered} of ${missing.length} transactions; the hourly size limit was reached`,
        );
      }
      this.recoveryUsage.bytes += size;
      this.vault.add(tx);
      recovered++;
    }
    this.recoveryRequests.set(randomUUID(), { party, kind: 'automatic', state: 'COMPLETED' });
    this.refreshAll();
    return { recoveredTransactions: recovered };
  }

  /** The peer's side of a manual recovery: a cleartext archive of what the requester lacks. */
  private exportFor(requestId: string, file: string): string {
    const requester = this.network.nodes.find((n) => n.recoveryRequests.get(requestId)?.party === this.party);
    if (!requester)
      throw new CordaException('IllegalArgumentException', `no recovery request ${requestId} for ${this.party}`);
    const transactions = requester.missingFrom(this.party);
    writeFileSync(file, JSON.stringify({ requestId, from: this.party, transactions }));
    return file;
  }

  private importFrom(requestId: string, file: string): { importedTransactions: number } {
    const request = this.recoveryRequests.get(requestId);
    if (!request) throw new CordaException('IllegalArgumentException', `no recovery request ${requestId}`);
    const archive = JSON.parse(readFileSync(file, 'utf8')) as { requestId: string; transactions: string[] };
    if (archive.requestId !== requestId)
      throw new CordaException('IllegalArgumentException', `archive is for request ${archive.requestId}`);
    let imported = 0;
    for (const tx of archive.transactions) {
      if (!this.vault.has(tx)) imported++;
      this.vault.add(tx);
    }
    request.state = 'IMPORTED';
    this.refreshAll();
    return { importedTransactions: imported };
  }

  private ledgerRecovery(args: Record<string, unknown>) {
    const peers = stringList(args.recoveryPeers, 'recoveryPeers');
    const dryRun = args.dryRun === true || args.dryRun === 'true';
    let transactions = 0;
    for (const party of peers) {
      const missing = this.missingFrom(party);
      transactions += missing.length;
      if (!dryRun) for (const tx of missing) this.vault.add(tx);
    }
    if (!dryRun) this.refreshAll();
    return {
      totalRecoveredRecords: transactions,
      totalRecoveredTransactions: transactions,
      totalRecoveredInFlightTransactions: 0,
      totalErrors: 0,
    };
  }

  private refreshAll(): void {
    for (const r of this.reconciliations.values()) this.refreshDifferences(r);
  }
}

export class CordaException extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export class CordaBusinessNetwork {
  nodes: SimulatedCordaNode[] = [];
  /** Transactions and the parties that hold them. */
  private transactions = new Map<string, { parties: Set<string>; bytes: number }>();

  constructor(readonly rootDirectory: string) {}

  addNode(id: string, party: string): SimulatedCordaNode {
    const node = new SimulatedCordaNode(this, id, party, path.join(this.rootDirectory, id));
    this.nodes.push(node);
    return node;
  }

  node(id: string): SimulatedCordaNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no simulated node ${id}`);
    return node;
  }

  byParty(party: string): SimulatedCordaNode | undefined {
    return this.nodes.find((n) => n.party === party);
  }

  /** A transaction between parties, in every vault except those listed as `missingAt` (node ids). */
  addTransaction(parties: string[], options: { missingAt?: string[]; inFlightAt?: string[]; bytes?: number } = {}) {
    const id = randomUUID().replace(/-/g, '').toUpperCase().padEnd(64, '0');
    this.transactions.set(id, { parties: new Set(parties), bytes: options.bytes ?? 2000 });
    for (const party of parties) {
      const node = this.byParty(party);
      if (!node) continue;
      if (options.inFlightAt?.includes(node.id)) node.inFlight.add(id);
      else if (!options.missingAt?.includes(node.id)) node.vault.add(id);
    }
    return id;
  }

  sharedBetween(a: string, b: string): Set<string> {
    const shared = new Set<string>();
    for (const [id, tx] of this.transactions) if (tx.parties.has(a) && tx.parties.has(b)) shared.add(id);
    return shared;
  }

  sizeOf(tx: string): number {
    return this.transactions.get(tx)?.bytes ?? 0;
  }

  stopAll(): void {
    for (const node of this.nodes) {
      node.faults.refusesToStop = false;
      node.stop();
    }
  }
}

function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw new CordaException('IllegalArgumentException', `${name}: expected a list`);
  return value.map(String);
}
