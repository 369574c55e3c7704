/**
 * A simulated Corda business network: nodes with vaults of transaction ids, the Collaborative Recovery
 * CorDapps' flows (LedgerSync reconciliation, automatic and manual LedgerRecover) and Corda 4.12's
 * LedgerRecoveryFlow, with the faults operators meet. Each flow takes the parameters and returns the types
 * corda-docs-portal documents (../shared/reference/corda/FACTS.md §1-3; `flowSignatures` below): results are
 * `KotlinData` values that print as the node's toString() does. The SSH shell and Jolokia (servers.ts) are
 * thin wire-format layers over this state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
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
  startedAt: number;
  finishedAt?: number;
  /** The last reconciliation that completed (found differences or not). */
  lastSuccess?: {
    status: 'DIFFERENCES_FOUND' | 'DIFFERENCES_NOT_FOUND';
    result: string[];
    started: number;
    finished: number;
  };
}

export interface RecoveryRequestRecord {
  recoveryID: string;
  party: string;
  kind: 'manual' | 'automatic';
  state: 'REQUESTED' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  requested: string[];
  timeStarted: number;
  timeFinished?: number;
  failureReason?: string;
}

/**
 * A value as the node prints it: a data class's `Name(field=value, …)`, with each field rendered as
 * `render` says (Kotlin data classes print strings unquoted; the documented examples quote some fields).
 */
export class KotlinData {
  constructor(
    readonly name: string,
    readonly fields: Record<string, unknown>,
    private readonly quoted: Record<string, '"' | "'"> = {},
  ) {}

  toString(): string {
    const render = (v: unknown): string =>
      v === null || v === undefined ? 'null' : Array.isArray(v) ? `[${v.map(render).join(', ')}]` : String(v);
    return `${this.name}(${Object.entries(this.fields)
      .map(([k, v]) => {
        const q = this.quoted[k];
        return `${k}=${q && typeof v === 'string' ? `${q}${v}${q}` : render(v)}`;
      })
      .join(', ')})`;
  }
}

/** StateMachineRunId's own toString: the UUID in brackets. */
const runIdText = (id: string | undefined) => (id ? `[${id}]` : null);

/**
 * The flows' public constructors by parameter name (FACTS.md): `required` must all be given, `optional` may
 * be; the shell picks a constructor whose parameters match the names typed.
 */
export const flowSignatures: Record<string, { required: string[]; optional: string[] }[]> = {
  ScheduleReconciliationFlow: [{ required: ['parties'], optional: [] }],
  GetReconciliationStatusesFlow: [{ required: ['isRequester'], optional: ['party', 'lastReconciliationStatus'] }],
  GetReconciliationStatusForPartyFlow: [{ required: ['party', 'isRequester'], optional: [] }],
  RefreshReconciliationStatusesFlow: [{ required: [], optional: [] }],
  StopReconciliationForPartyFlow: [{ required: ['party'], optional: [] }],
  AutomaticLedgerRecoverFlow: [{ required: ['party'], optional: [] }],
  ShowInitiatedAutomaticRecoveryProgressFlow: [{ required: ['party'], optional: [] }],
  GetRecoveryRequestsFlow: [{ required: [], optional: ['party', 'isRequester', 'statuses'] }],
  GetCurrentRecoveryRequestWithPartyFlow: [{ required: ['party', 'isRequester'], optional: [] }],
  InitiateManualRecoveryFlow: [{ required: ['party'], optional: ['transactionIds'] }],
  ExportTransactionsFlow: [{ required: ['requestId', 'path'], optional: [] }],
  ImportTransactionsFlow: [{ required: ['requestId', 'path'], optional: [] }],
  CompleteManualRecoveryFlow: [{ required: ['requestId'], optional: [] }],
  FailManualRecoveryFlow: [{ required: ['requestId', 'failReason'], optional: [] }],
  LedgerRecoveryFlow: ['recoveryPeers', 'recoveryPeer', 'useAllNetworkNodes'].map((peers) => ({
    required: [peers],
    optional: ['timeWindow', 'dryRun', 'verboseLogging', 'alsoFinalize', 'recoveryBatchSize', 'useTimeWindowNarrowing'],
  })),
};

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
  recoveryRequests = new Map<string, RecoveryRequestRecord>();
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

  /** Runs one shell flow with the documented parameters; returns its documented result, or throws as Corda does. */
  runFlow(name: string, args: Record<string, unknown>): unknown {
    if (this.status !== 'STARTED') throw new CordaException('IllegalStateException', 'node is not started');
    const signatures = flowSignatures[name];
    if (!signatures) throw new ShellRefusal(`No matching flow found, run 'flow list' to see your options.`);
    const given = Object.keys(args);
    if (
      !signatures.some(
        (c) =>
          c.required.every((p) => given.includes(p)) && given.every((p) => [...c.required, ...c.optional].includes(p)),
      )
    )
      throw new ShellRefusal(
        `No matching constructor found:\n${signatures.map((c) => `- ${name}(${[...c.required, ...c.optional.map((o) => `${o}?`)].join(', ')}): the parameters given were ${given.join(', ') || 'none'}`).join('\n')}`,
      );
    this.flowLog.push(name);
    switch (name) {
      case 'ScheduleReconciliationFlow':
        return this.schedule(stringList(args.parties, 'parties'));
      case 'GetReconciliationStatusesFlow':
        // This node keeps only its own requests; as responder it has none.
        if (args.isRequester !== true) return [];
        return [...this.reconciliations.values()]
          .filter((r) => args.party === undefined || r.party === args.party)
          .filter((r) => args.lastReconciliationStatus === undefined || r.status === args.lastReconciliationStatus)
          .map((r) => this.statusOf(r));
      case 'GetReconciliationStatusForPartyFlow': {
        const r = args.isRequester === true ? this.reconciliations.get(String(args.party)) : undefined;
        return r ? this.statusOf(r) : null;
      }
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
        this.automaticRecovery(String(args.party));
        return null;
      case 'ShowInitiatedAutomaticRecoveryProgressFlow': {
        const r = this.requestsWith(String(args.party), 'automatic').at(-1);
        const total = r?.requested.length ?? 0;
        return new KotlinData('RecoveryProgress', { done: r?.state === 'COMPLETED' ? total : 0, total });
      }
      case 'GetRecoveryRequestsFlow': {
        const statuses =
          args.statuses === undefined || args.statuses === null ? undefined : stringList(args.statuses, 'statuses');
        // This node keeps the requests it made; as a recipient it lists none.
        if (args.isRequester === false) return [];
        return [...this.recoveryRequests.values()]
          .filter((r) => args.party === undefined || args.party === null || r.party === args.party)
          .filter((r) => !statuses || statuses.includes(r.state))
          .map((r) => this.requestOf(r));
      }
      case 'GetCurrentRecoveryRequestWithPartyFlow': {
        const current = [...this.recoveryRequests.values()].filter(
          (r) => r.party === args.party && (r.state === 'REQUESTED' || r.state === 'IN_PROGRESS'),
        );
        if (current.length > 1)
          throw new CordaException(
            'MultipleRecoveryRecordsException',
            `several recovery requests with ${String(args.party)}`,
          );
        return current[0] ? this.requestOf(current[0]) : null;
      }
      case 'InitiateManualRecoveryFlow': {
        const request: RecoveryRequestRecord = {
          recoveryID: randomUUID(),
          party: String(args.party),
          kind: 'manual',
          state: 'REQUESTED',
          requested: this.missingFrom(String(args.party)),
          timeStarted: Date.now(),
        };
        this.recoveryRequests.set(request.recoveryID, request);
        return this.requestOf(request);
      }
      case 'ExportTransactionsFlow':
        this.exportFor(String(args.requestId), String(args.path));
        return null;
      case 'ImportTransactionsFlow':
        this.importFrom(String(args.requestId), String(args.path));
        return null;
      case 'CompleteManualRecoveryFlow':
      case 'FailManualRecoveryFlow': {
        const request = this.recoveryRequests.get(String(args.requestId));
        if (!request)
          throw new CordaException('ManualRecoveryException', `no recovery request ${String(args.requestId)}`);
        request.state = name === 'CompleteManualRecoveryFlow' ? 'COMPLETED' : 'FAILED';
        request.timeFinished = Date.now();
        if (name === 'FailManualRecoveryFlow') request.failureReason = String(args.failReason);
        return null;
      }
      case 'LedgerRecoveryFlow':
        return this.ledgerRecovery(args);
    }
    throw new ShellRefusal(`No matching flow found, run 'flow list' to see your options.`);
  }

  /** ReconciliationStatus, with the fields and quoting of the documented example (FACTS.md §1). */
  private statusOf(r: ReconciliationStatus): KotlinData {
    return new KotlinData(
      'ReconciliationStatus',
      {
        partyName: r.party,
        isRequester: true,
        stateMachineRunId: r.flowId ?? null,
        lastSuccessfulReconciliationTimeStarted: r.lastSuccess?.started ?? null,
        lastSuccessfulReconciliationTimeFinished: r.lastSuccess?.finished ?? null,
        lastSuccessfulReconciliationStatus: r.lastSuccess?.status ?? null,
        lastSuccessfulReconciliationResult: r.lastSuccess?.result ?? [],
        lastSuccessfulReconciliationArchivedResult: [],
        lastReconciliationTimeStarted: r.startedAt,
        lastReconciliationTimeFinished: r.finishedAt ?? null,
        lastReconciliationStatus: r.status,
        lastReconciliationError: r.error ?? '',
      },
      { partyName: '"', stateMachineRunId: '"', lastReconciliationError: '"' },
    );
  }

  /** RecoveryRequest, printed as the documented example (FACTS.md §2): party unquoted, failureReason in ''. */
  private requestOf(r: RecoveryRequestRecord): KotlinData {
    return new KotlinData(
      'RecoveryRequest',
      {
        recoveryID: r.recoveryID,
        party: r.party,
        isRequester: true,
        timeStarted: r.timeStarted,
        timeFinished: r.timeFinished ?? null,
        requestedTransactionIDs: r.requested,
        recoveryStatusFlag: r.state,
        failureReason: r.failureReason ?? '',
        isManual: r.kind === 'manual',
        stateMachineRunId: r.kind === 'manual' ? null : runIdText(r.recoveryID),
      },
      { failureReason: "'" },
    );
  }

  private requestsWith(party: string, kind: RecoveryRequestRecord['kind']): RecoveryRequestRecord[] {
    return [...this.recoveryRequests.values()].filter((r) => r.party === party && r.kind === kind);
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
      const previous = this.reconciliations.get(party);
      const status: ReconciliationStatus = {
        party,
        status: 'IN_PROGRESS',
        flowId: randomUUID(),
        missing: [],
        startedAt: Date.now(),
        ...(previous?.lastSuccess ? { lastSuccess: previous.lastSuccess } : {}),
      };
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
      r.finishedAt = Date.now();
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
    r.finishedAt = Date.now();
    r.lastSuccess = { status: r.status, result: r.missing, started: r.startedAt, finished: r.finishedAt };
  }

  /** Transactions the peer shares with this node that this node's vault lacks (in-flight ones included). */
  missingFrom(party: string): string[] {
    const peer = this.network.byParty(party);
    if (!peer) return [];
    return [...this.network.sharedBetween(this.party, party)].filter((tx) => !this.vault.has(tx)).sort();
  }

  /** Recovers what `party` has and this node lacks, within LedgerRecover's limits; leaves a RecoveryRequest. */
  private automaticRecovery(party: string): void {
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
    const request: RecoveryRequestRecord = {
      recoveryID: randomUUID(),
      party,
      kind: 'automatic',
      state: 'IN_PROGRESS',
      requested: missing,
      timeStarted: Date.now(),
    };
    this.recoveryRequests.set(request.recoveryID, request);
    let recovered = 0;
    for (const tx of missing) {
      const size = this.network.sizeOf(tx);
      if (this.recoveryUsage.bytes + size > RECOVERY_LIMITS.bytesPerHour) {
        this.refreshAll();
        request.state = 'FAILED';
        request.timeFinished = Date.now();
        request.failureReason = `SizeLimitExceededException: recovered ${recovered} of ${missing.length}`;
        throw new CordaException(
          'SizeLimitExceededException',
          `recovered ${recovered} of ${missing.length} transactions; the hourly size limit was reached`,
        );
      }
      this.recoveryUsage.bytes += size;
      this.vault.add(tx);
      recovered++;
    }
    request.state = 'COMPLETED';
    request.timeFinished = Date.now();
    this.refreshAll();
  }

  /**
   * The peer's side of a manual recovery: a VaultArchive under `<dir>/<requestId>/` (attachments/,
   * network-parameters/, recovery-description, transactions/<id>), as ExportTransactionsFlow writes it.
   */
  private exportFor(requestId: string, dir: string): void {
    const requester = this.network.nodes.find((n) => n.recoveryRequests.get(requestId)?.party === this.party);
    if (!requester)
      throw new CordaException('VaultExporterException', `no recovery request ${requestId} for ${this.party}`);
    const archive = path.join(dir, requestId);
    for (const sub of ['attachments', 'network-parameters', 'transactions'])
      mkdirSync(path.join(archive, sub), { recursive: true });
    const transactions = requester.missingFrom(this.party);
    writeFileSync(
      path.join(archive, 'recovery-description'),
      JSON.stringify({ requestId, from: this.party, transactions: transactions.length }),
    );
    for (const tx of transactions) writeFileSync(path.join(archive, 'transactions', tx), `signed transaction ${tx}`);
  }

  /** ImportTransactionsFlow: reads `<dir>/<requestId>/transactions/`, marks the request complete, refreshes. */
  private importFrom(requestId: string, dir: string): void {
    const request = this.recoveryRequests.get(requestId);
    if (!request) throw new CordaException('ManualRecoveryException', `no recovery request ${requestId}`);
    const transactions = path.join(dir, requestId, 'transactions');
    let files: string[];
    try {
      files = readdirSync(transactions);
    } catch {
      throw new CordaException(
        'CorruptedArchiveException',
        `${transactions} is not a VaultArchive of request ${requestId}`,
      );
    }
    for (const tx of files) this.vault.add(tx);
    request.state = 'COMPLETED';
    request.timeFinished = Date.now();
    this.refreshAll();
  }

  private ledgerRecovery(args: Record<string, unknown>): KotlinData {
    const peers =
      args.useAllNetworkNodes === true
        ? this.network.nodes.filter((n) => n !== this).map((n) => n.party)
        : args.recoveryPeer !== undefined
          ? [String(args.recoveryPeer)]
          : stringList(args.recoveryPeers, 'recoveryPeers');
    const dryRun = args.dryRun === true;
    let transactions = 0;
    for (const party of peers) {
      const missing = this.missingFrom(party);
      transactions += missing.length;
      if (!dryRun) for (const tx of missing) this.vault.add(tx);
    }
    if (!dryRun) this.refreshAll();
    return new KotlinData('LedgerRecoveryResult', {
      totalRecoveredRecords: transactions,
      totalRecoveredTransactions: transactions,
      totalRecoveredInFlightTransactions: 0,
      totalErrors: 0,
    });
  }

  private refreshAll(): void {
    for (const r of this.reconciliations.values()) this.refreshDifferences(r);
  }
}

/** The shell's own refusal (no such flow, no matching constructor): printed as is, not as a flow error. */
export class ShellRefusal extends Error {}

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
