/**
 * A simulated CCF network. Every node is an HTTPS server on loopback serving the node and governance
 * endpoints recovery uses, with CCF's shapes and status codes (vendored in test/reference/ccf), CCF's state
 * machines, and faults on demand. Nodes are launched from cchost configurations through a control API, which
 * the `cchost.ts` stand-in calls, so the operator's launcher command templates are exercised for real.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import Ajv from 'ajv';
import { z } from 'zod';
import { EnvelopeError, openEnvelope, signatureVerifies, type GovernanceEnvelope } from './cose';
import { createNodeCertificate, createServiceIdentity, type Identity } from '../../shared/pki';
import { readLedger, type LedgerService } from './ledger';

export type NodeState =
  | 'Uninitialized'
  | 'Initialized'
  | 'Pending'
  | 'PartOfPublicNetwork'
  | 'ReadingPublicLedger'
  | 'ReadingPrivateLedger'
  | 'PartOfNetwork';
export type ServiceStatus = 'Opening' | 'Open' | 'WaitingForRecoveryShares' | 'Recovering';
type NodeType = 'Recover' | 'Join' | 'Previous';

export interface NodeFaults {
  unreachable?: boolean;
  slowMs?: number;
  /** Answer 503 to the next `http5xx` requests (or all of them when `true`). */
  http5xx?: number | boolean;
  malformed?: boolean;
  stuckReadingPublicLedger?: boolean;
  consensusDisagree?: boolean;
  /** This node is in an election: it knows no primary (`primary_id: null`), as Raft clears its leader then. */
  electing?: boolean;
}
export interface ServiceFaults {
  failNextShareCombination?: number;
  electionDuringPrivateRecovery?: boolean;
}

/**
 * Time the simulated network itself took, for benchmarks: a launcher process running (from its own start), a
 * Recover node replaying its public ledger, a Join node waiting to be trusted, a node replaying its private
 * ledger. An orchestrator can only wait for these; whatever else a recovery takes is the orchestrator's.
 */
export interface BusyInterval {
  address: string;
  what: 'launch' | 'stop' | 'public-ledger' | 'join' | 'private-ledger';
  from: number;
  to: number;
}

export interface RecordedExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  requestContentType: string | null;
  status: number;
  responseContentType: string | null;
  responseBody: unknown;
}

interface Proposal {
  proposalId: string;
  proposerId: string;
  state: 'Open' | 'Accepted' | 'Withdrawn' | 'Rejected' | 'Failed' | 'Dropped';
  actions: { name: string; args?: unknown }[];
  ballots: Map<string, string>;
  finalVotes?: Record<string, boolean>;
  failure?: string;
}

interface Service {
  identity: Identity;
  ledger: LedgerService;
  status: ServiceStatus;
  view: number;
  seqno: number;
  lastSignedSeqno: number;
  snapshotSeqno: number;
  createTxid: string;
  recoveryCount: number;
  nodes: SimNode[];
  primary?: SimNode;
  proposals: Map<string, Proposal>;
  /** `created_at:signature` of recent proposal requests, for replay detection. */
  recentProposals: Map<string, string>;
  shares: Map<string, Buffer>;
  stateDigest: string;
  acked: Set<string>;
  electionUntil: number;
}

interface SimNode {
  address: string;
  type: NodeType;
  nodeId: string;
  state: NodeState;
  lastSignedSeqno: number;
  startupSeqno: number;
  service?: Service;
  server: https.Server;
  sockets: Set<Socket>;
  running: boolean;
  timers: NodeJS.Timeout[];
  /** Previous-service nodes only: this node's own idea of primary and view. */
  previous?: { view: number };
}

const cchostConfig = z.object({
  network: z.object({
    rpc_interfaces: z
      .record(
        z.string(),
        z.object({ bind_address: z.string().regex(/^[^:]+:\d+$/), published_address: z.string().optional() }),
      )
      .refine((r) => Object.keys(r).length > 0, { error: 'at least one rpc interface is required' }),
  }),
  command: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('Recover'),
      service_certificate_file: z.string().min(1),
      recover: z.object({ previous_service_identity_file: z.string().min(1) }),
    }),
    z.object({
      type: z.literal('Join'),
      service_certificate_file: z.string().min(1),
      join: z.object({ target_rpc_address: z.string().min(1) }),
    }),
  ]),
  ledger: z.object({ directory: z.string().min(1), read_only_directories: z.array(z.string()).default([]) }),
  snapshots: z.object({ directory: z.string().min(1), read_only_directory: z.string().optional() }).optional(),
  output_files: z.object({ pid_file: z.string().optional() }).optional(),
});
export type CchostConfig = z.infer<typeof cchostConfig>;

export class LaunchError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// microsoft/CCF doc/host_config_schema/cchost_config.json, vendored unmodified (test/reference/ccf/SOURCE.md).
const validCchostConfig = new Ajv({ strict: false, allErrors: false }).compile(
  JSON.parse(readFileSync(path.resolve(__dirname, '../../test/reference/ccf/cchost_config.json'), 'utf8')) as object,
);

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const pem = (text: string) => text.replace(/\r/g, '').trim();

export class CcfSimulator {
  private control?: http.Server;
  private readonly nodes = new Map<string, SimNode>();
  private readonly faults = new Map<string, NodeFaults>();
  private serviceFaults: ServiceFaults = {};
  private readonly starts = new Map<string, { Recover: number; Join: number }>();
  private readonly stops = new Map<string, number>();
  private readonly launchFailures = new Map<string, number>();
  private readonly recorded: RecordedExchange[] = [];
  private readonly busy: BusyInterval[] = [];
  private readonly replayRate: number;
  controlUrl = '';

  constructor(private readonly options: { replayEntriesPerSecond?: number; controlPort?: number } = {}) {
    this.replayRate = options.replayEntriesPerSecond ?? 2000;
  }

  async start(): Promise<void> {
    this.control = http.createServer((req, res) => void this.handleControl(req, res));
    await new Promise<void>((resolve) => this.control!.listen(this.options.controlPort ?? 0, '127.0.0.1', resolve));
    this.controlUrl = `http://127.0.0.1:${(this.control.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => this.closeNode(n)));
    if (this.control) {
      this.control.closeAllConnections();
      await new Promise<void>((resolve) => this.control!.close(() => resolve()));
    }
  }

  // ---- Launching and stopping (what cchost and its supervisor do).

  /** `launcherStartedAt`: when the launcher process that asks started (ms since the epoch), if it says. */
  async launch(
    raw: unknown,
    launcherStartedAt = Date.now(),
  ): Promise<{ nodeId: string; address: string; type: NodeType }> {
    // cchost refuses a configuration its schema does not accept (additionalProperties are false throughout).
    if (!validCchostConfig(raw)) {
      const issue = validCchostConfig.errors![0]!;
      const params = issue.params as { missingProperty?: string; additionalProperty?: string };
      const field = [...issue.instancePath.split('/').slice(1), params.missingProperty ?? params.additionalProperty]
        .filter(Boolean)
        .join('.');
      throw new LaunchError(
        400,
        `invalid cchost configuration: ${field || '(top level)'}: ${issue.message ?? 'invalid'}`,
      );
    }
    const parsed = cchostConfig.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new LaunchError(400, `invalid cchost configuration: ${issue.path.join('.')}: ${issue.message}`);
    }
    const config = parsed.data;
    const address = Object.values(config.network.rpc_interfaces)[0]!.bind_address;
    if (this.nodes.get(address)?.running) {
      this.launchFailures.set(address, (this.launchFailures.get(address) ?? 0) + 1);
      throw new LaunchError(409, `${address} is already in use by a running node`);
    }
    const node =
      config.command.type === 'Recover'
        ? await this.launchRecover(address, config)
        : await this.launchJoin(address, config);
    this.busy.push({ address, what: 'launch', from: launcherStartedAt, to: Date.now() });
    const count = this.starts.get(address) ?? { Recover: 0, Join: 0 };
    count[config.command.type]++;
    this.starts.set(address, count);
    if (config.output_files?.pid_file) writeFileSync(config.output_files.pid_file, `${process.pid}\n`);
    return { nodeId: node.nodeId, address, type: node.type };
  }

  private async launchRecover(address: string, config: CchostConfig): Promise<SimNode> {
    const command = config.command as Extract<CchostConfig['command'], { type: 'Recover' }>;
    try {
      new X509Certificate(readFileSync(command.recover.previous_service_identity_file, 'utf8'));
    } catch {
      throw new LaunchError(
        400,
        `command.recover.previous_service_identity_file: cannot read a certificate from ${command.recover.previous_service_identity_file}`,
      );
    }
    const snapshotDirs = [config.snapshots?.directory, config.snapshots?.read_only_directory].filter(
      (d): d is string => !!d,
    );
    const ledger = readLedger(config.ledger.directory, config.ledger.read_only_directories, snapshotDirs);
    if (!ledger.service)
      throw new LaunchError(
        400,
        `ledger.directory: no ledger found in ${config.ledger.directory} or the read-only directories`,
      );
    const identity = await createServiceIdentity();
    writeFileSync(command.service_certificate_file, identity.certificatePem);
    const service: Service = {
      identity,
      ledger: ledger.service,
      status: 'Recovering',
      view: ledger.service.lastView + 2,
      seqno: ledger.lastSignedSeqno + 1,
      lastSignedSeqno: ledger.lastSignedSeqno,
      snapshotSeqno: ledger.snapshotSeqno,
      // The recovered service is created by the first transaction after the recovered ledger, in the new view.
      createTxid: `${ledger.service.lastView + 2}.${ledger.lastSignedSeqno + 1}`,
      recoveryCount: ledger.service.recoveryCount,
      nodes: [],
      proposals: new Map(),
      recentProposals: new Map(),
      shares: new Map(),
      stateDigest: hex(randomBytes(32)),
      acked: new Set(),
      electionUntil: 0,
    };
    const node = await this.openNode(address, 'Recover', identity);
    node.service = service;
    node.state = 'Initialized';
    node.lastSignedSeqno = ledger.snapshotSeqno;
    node.startupSeqno = ledger.snapshotSeqno;
    service.nodes.push(node);
    service.primary = node;
    const opened = Date.now();
    this.later(node, 50, () => {
      node.state = 'ReadingPublicLedger';
      this.replay(node, ledger.snapshotSeqno, ledger.lastSignedSeqno, () => {
        node.state = 'PartOfPublicNetwork';
        this.busy.push({ address, what: 'public-ledger', from: opened, to: Date.now() });
      });
    });
    return node;
  }

  private async launchJoin(address: string, config: CchostConfig): Promise<SimNode> {
    const command = config.command as Extract<CchostConfig['command'], { type: 'Join' }>;
    let trusted: string;
    try {
      trusted = readFileSync(command.service_certificate_file, 'utf8');
    } catch {
      throw new LaunchError(400, `command.service_certificate_file: cannot read ${command.service_certificate_file}`);
    }
    const target = this.nodes.get(command.join.target_rpc_address);
    const service =
      target?.running && target.service && pem(target.service.identity.certificatePem) === pem(trusted)
        ? target.service
        : undefined;
    // A joiner of an unknown service still needs a TLS certificate; it will never be trusted.
    const node = await this.openNode(address, 'Join', service?.identity ?? (await createServiceIdentity()));
    node.state = 'Pending';
    const opened = Date.now();
    const poll = () => {
      if (!node.running) return;
      if (
        service &&
        ['PartOfPublicNetwork', 'ReadingPrivateLedger', 'PartOfNetwork'].includes(service.primary?.state ?? '')
      ) {
        // During recovery the service trusts joiners itself; no governance is needed.
        node.service = service;
        node.lastSignedSeqno = service.lastSignedSeqno;
        node.state = service.status === 'Open' ? 'PartOfNetwork' : 'PartOfPublicNetwork';
        service.nodes.push(node);
        this.busy.push({ address, what: 'join', from: opened, to: Date.now() });
        return;
      }
      this.later(node, 200, poll);
    };
    this.later(node, 300, poll);
    return node;
  }

  /** The crashed service before it crashed: every node Open, agreeing on the first as primary. */
  async startPreviousService(options: {
    nodes: { address: string; ledgerDirectory: string; id?: string }[];
    serviceCertificatePem: string;
    serviceKeyPem: string;
  }): Promise<void> {
    const identity = { certificatePem: options.serviceCertificatePem, privateKeyPem: options.serviceKeyPem };
    const ledger = readLedger(options.nodes[0]!.ledgerDirectory);
    if (!ledger.service) throw new LaunchError(400, 'no ledger found for the previous service');
    const service: Service = {
      identity,
      ledger: ledger.service,
      status: 'Open',
      view: ledger.service.lastView,
      seqno: ledger.lastSignedSeqno,
      lastSignedSeqno: ledger.lastSignedSeqno,
      snapshotSeqno: 0,
      createTxid: '2.1',
      recoveryCount: ledger.service.recoveryCount,
      nodes: [],
      proposals: new Map(),
      recentProposals: new Map(),
      shares: new Map(),
      stateDigest: hex(randomBytes(32)),
      acked: new Set(),
      electionUntil: 0,
    };
    for (const n of options.nodes) {
      const node = await this.openNode(n.address, 'Previous', identity);
      node.service = service;
      node.state = 'PartOfNetwork';
      node.lastSignedSeqno = readLedger(n.ledgerDirectory).lastSignedSeqno;
      node.previous = { view: service.view };
      service.nodes.push(node);
    }
    service.primary = service.nodes[0];
  }

  async crashPreviousService(): Promise<void> {
    await Promise.all([...this.nodes.values()].filter((n) => n.type === 'Previous').map((n) => this.closeNode(n)));
  }

  /** Every node goes down at once, as in the disaster being simulated. */
  async crashAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => this.closeNode(n)));
  }

  async stopNode(address: string, launcherStartedAt?: number): Promise<boolean> {
    const node = this.nodes.get(address);
    if (!node?.running) return false;
    await this.closeNode(node);
    this.stops.set(address, (this.stops.get(address) ?? 0) + 1);
    if (launcherStartedAt) this.busy.push({ address, what: 'stop', from: launcherStartedAt, to: Date.now() });
    return true;
  }

  setFaults(target: string, faults: NodeFaults | ServiceFaults): void {
    if (target === 'service') this.serviceFaults = { ...this.serviceFaults, ...(faults as ServiceFaults) };
    else this.faults.set(target, { ...this.faults.get(target), ...(faults as NodeFaults) });
  }

  clearFaults(): void {
    this.faults.clear();
    this.serviceFaults = {};
  }

  stats() {
    return {
      starts: Object.fromEntries(this.starts),
      stops: Object.fromEntries(this.stops),
      launchFailures: Object.fromEntries(this.launchFailures),
      nodes: [...this.nodes.values()].map((n) => ({
        address: n.address,
        type: n.type,
        nodeId: n.nodeId,
        state: n.state,
        lastSignedSeqno: n.lastSignedSeqno,
        running: n.running,
        serviceStatus: n.service?.status,
        recoveryCount: n.service?.recoveryCount,
        view: n.service?.view,
      })),
    };
  }

  exchanges(): RecordedExchange[] {
    return [...this.recorded];
  }

  busyIntervals(): BusyInterval[] {
    return [...this.busy];
  }

  // ---- Node lifecycle.

  private async openNode(address: string, type: NodeType, endorser: Identity): Promise<SimNode> {
    const tls = await createNodeCertificate(endorser);
    const node: SimNode = {
      address,
      type,
      nodeId: hex(tls.publicKeyDer),
      state: 'Uninitialized',
      lastSignedSeqno: 0,
      startupSeqno: 0,
      server: https.createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }),
      sockets: new Set(),
      running: true,
      timers: [],
    };
    node.server.on('connection', (socket: Socket) => {
      if (this.faults.get(address)?.unreachable) {
        socket.destroy();
        return;
      }
      node.sockets.add(socket);
      socket.on('close', () => node.sockets.delete(socket));
    });
    node.server.on('request', (req, res) => void this.handleNode(node, req, res));
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    await new Promise<void>((resolve, reject) => {
      node.server.once('error', (err) => reject(new LaunchError(409, `cannot bind ${address}: ${err.message}`)));
      node.server.listen(port, host, resolve);
    });
    this.nodes.set(address, node);
    return node;
  }

  private async closeNode(node: SimNode): Promise<void> {
    if (!node.running) return;
    node.running = false;
    node.timers.forEach(clearTimeout);
    if (node.service) node.service.nodes = node.service.nodes.filter((n) => n !== node);
    for (const s of node.sockets) s.destroy();
    await new Promise<void>((resolve) => node.server.close(() => resolve()));
  }

  private later(node: SimNode, ms: number, fn: () => void): void {
    node.timers.push(setTimeout(() => node.running && fn(), ms));
  }

  /** Advances `lastSignedSeqno` from `from` to `to` at the replay rate, then calls `done`. */
  private replay(node: SimNode, from: number, to: number, done: () => void): void {
    const stepMs = 50;
    const perStep = Math.max(1, Math.round((this.replayRate * stepMs) / 1000));
    const stuckAt = Math.floor((from + to) / 2);
    node.lastSignedSeqno = from;
    const tick = () => {
      const stuck = this.faults.get(node.address)?.stuckReadingPublicLedger && node.state === 'ReadingPublicLedger';
      node.lastSignedSeqno = Math.min(to, node.lastSignedSeqno + perStep, stuck ? stuckAt : to);
      if (node.lastSignedSeqno >= to) done();
      else this.later(node, stepMs, tick);
    };
    this.later(node, stepMs, tick);
  }

  // ---- HTTP.

  private async handleNode(node: SimNode, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'https://node');
    const faults = this.faults.get(node.address) ?? {};
    if (faults.slowMs) await new Promise((r) => setTimeout(r, faults.slowMs));
    let reply: { status: number; body?: unknown; raw?: string; contentType?: string };
    if (faults.http5xx) {
      if (typeof faults.http5xx === 'number') faults.http5xx = faults.http5xx - 1 || undefined;
      reply = error(503, 'ServiceUnavailable', 'injected fault: node unavailable');
    } else if (faults.malformed && url.pathname.startsWith('/node/')) {
      reply = { status: 200, raw: '{"state": "PartOfNetw' };
    } else {
      try {
        reply = url.pathname.startsWith('/gov/')
          ? this.governance(node, req.method ?? 'GET', url, req.headers['content-type'] ?? null, Buffer.concat(chunks))
          : this.nodeEndpoint(node, req.method ?? 'GET', url.pathname);
      } catch (err) {
        reply = error(500, 'InternalError', (err as Error).message);
      }
    }
    const text = reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
    const headers: Record<string, string> = {};
    if (text) headers['content-type'] = reply.contentType ?? 'application/json';
    if (req.method === 'POST' && reply.status < 300 && node.service) {
      headers['x-ms-ccf-transaction-id'] = `${node.service.view}.${++node.service.seqno}`;
    }
    this.recorded.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      requestContentType: req.headers['content-type'] ?? null,
      status: reply.status,
      responseContentType: headers['content-type'] ?? null,
      responseBody: reply.raw !== undefined ? reply.raw : (reply.body ?? null),
    });
    res.writeHead(reply.status, headers).end(text);
  }

  private nodeEndpoint(node: SimNode, method: string, pathname: string): { status: number; body?: unknown } {
    if (method !== 'GET') return error(405, 'UnsupportedHttpVerb', `${method} is not allowed on ${pathname}`);
    const service = node.service;
    const primary = this.primaryOf(node);
    const view =
      node.previous && this.faults.get(node.address)?.consensusDisagree ? node.previous.view + 1 : (service?.view ?? 0);
    const electing = !!this.faults.get(node.address)?.electing || (!!service && Date.now() < service.electionUntil);
    const info = (n: SimNode) => ({
      node_id: n.nodeId,
      status: n.state === 'Pending' ? 'Pending' : 'Trusted',
      primary: n === primary,
      rpc_interfaces: { primary_rpc_interface: { bind_address: n.address, published_address: n.address } },
      node_data: null,
      last_written: service?.seqno ?? 0,
    });
    switch (pathname) {
      case '/node/state':
        return {
          status: 200,
          body: {
            node_id: node.nodeId,
            state: node.state,
            last_signed_seqno: node.lastSignedSeqno,
            startup_seqno: node.startupSeqno,
            stop_notice: false,
            ...(node.type === 'Recover'
              ? { recovery_target_seqno: service?.lastSignedSeqno ?? 0, last_recovered_seqno: node.lastSignedSeqno }
              : {}),
          },
        };
      case '/node/network':
        if (!service || !primary) return error(503, 'ServiceUnavailable', 'this node is not part of a service yet');
        return {
          status: 200,
          body: {
            service_status: service.status,
            service_certificate: service.identity.certificatePem,
            current_view: view,
            // CCF serialises its optional primary as null while no leader is known (call_types.h, GetNetworkInfo).
            primary_id: electing ? null : primary.nodeId,
            recovery_count: service.recoveryCount,
            service_data: {},
            current_service_create_txid: service.createTxid,
          },
        };
      case '/node/network/nodes':
        return { status: 200, body: { nodes: (service?.nodes ?? [node]).map(info) } };
      case '/node/network/nodes/self':
        return { status: 200, body: info(node) };
      case '/node/network/nodes/primary':
        return primary ? { status: 200, body: info(primary) } : error(404, 'ResourceNotFound', 'no primary is known');
      case '/node/primary':
        return primary === node ? { status: 200 } : error(404, 'ResourceNotFound', 'this node is not primary');
      case '/node/consensus': {
        if (!primary) return error(503, 'ServiceUnavailable', 'no consensus yet');
        const disagree = node.previous && this.faults.get(node.address)?.consensusDisagree;
        const nodes = Object.fromEntries((service?.nodes ?? [node]).map((n) => [n.nodeId, { address: n.address }]));
        return {
          status: 200,
          body: {
            details: {
              configs: [{ idx: 1, rid: 1, nodes }],
              acks: {},
              membership_state: 'Active',
              leadership_state: (disagree ? node : primary) === node ? 'Leader' : 'Follower',
              // kv_types.h ConsensusDetails: an optional leader, null during an election.
              primary_id: electing ? null : disagree ? node.nodeId : primary.nodeId,
              current_view: view,
              ticking: true,
            },
          },
        };
      }
      case '/node/commit':
        return { status: 200, body: { transaction_id: `${service?.view ?? 0}.${service?.seqno ?? 0}` } };
      case '/node/version':
        return { status: 200, body: { ccf_version: 'ccf-6.0.0', quickjs_version: '2024-01-13', unsafe: false } };
      case '/node/service/configuration':
        if (!service) return error(503, 'ServiceUnavailable', 'the ledger has not been read yet');
        return {
          status: 200,
          body: {
            recovery_threshold: service.ledger.recoveryThreshold,
            consensus: 'CFT',
            reconfiguration_type: 'OneTransaction',
            maximum_node_certificate_validity_days: 365,
            maximum_service_certificate_validity_days: 365,
            recent_cose_proposals_window_size: 100,
          },
        };
      case '/node/service/previous_identity':
        if (!service || node.type === 'Previous')
          return error(404, 'ResourceNotFound', 'this service has no previous identity');
        return { status: 200, body: { previous_service_identity: service.ledger.serviceCertificate } };
      case '/node/ready/gov':
        return ['PartOfPublicNetwork', 'PartOfNetwork'].includes(node.state)
          ? { status: 204 }
          : error(503, 'ServiceUnavailable', `node is ${node.state}`);
      case '/node/ready/app':
        return node.state === 'PartOfNetwork' && service?.status === 'Open'
          ? { status: 204 }
          : error(503, 'ServiceUnavailable', `node is ${node.state}`);
      default:
        return error(404, 'ResourceNotFound', `unknown path ${pathname}`);
    }
  }

  private primaryOf(node: SimNode): SimNode | undefined {
    if (!node.service) return undefined;
    return node.service.primary?.running ? node.service.primary : node.service.nodes.find((n) => n.running);
  }

  private governance(
    node: SimNode,
    method: string,
    url: URL,
    contentType: string | null,
    body: Buffer,
  ): { status: number; body?: unknown; raw?: string; contentType?: string } {
    if (url.searchParams.get('api-version') !== '2024-07-01') {
      return error(400, 'UnsupportedApiVersionValue', 'api-version must be 2024-07-01');
    }
    const service = node.service;
    if (!service || !['PartOfPublicNetwork', 'ReadingPrivateLedger', 'PartOfNetwork'].includes(node.state)) {
      return error(503, 'ServiceUnavailable', `governance is not available while the node is ${node.state}`);
    }
    if (Date.now() < service.electionUntil) return error(503, 'ServiceUnavailable', 'election in progress');
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if (method === 'GET') {
      if (p === '/gov/members/proposals')
        return { status: 200, body: { value: [...service.proposals.values()].map(proposalBody) } };
      if ((m = /^\/gov\/members\/proposals\/([a-f0-9]{64})$/.exec(p))) {
        const found = service.proposals.get(m[1]!);
        return found ? { status: 200, body: proposalBody(found) } : error(404, 'ProposalNotFound', 'no such proposal');
      }
      if ((m = /^\/gov\/members\/proposals\/([a-f0-9]{64})\/actions$/.exec(p))) {
        const found = service.proposals.get(m[1]!);
        return found
          ? { status: 200, body: { actions: found.actions } }
          : error(404, 'ProposalNotFound', 'no such proposal');
      }
      if ((m = /^\/gov\/members\/proposals\/([a-f0-9]{64})\/ballots\/([a-f0-9]{64})$/.exec(p))) {
        // proposals.h get_ballot: the stored ballot itself, as text/javascript, not wrapped in JSON.
        const script = service.proposals.get(m[1]!)?.ballots.get(m[2]!);
        return script
          ? { status: 200, raw: script, contentType: 'text/javascript' }
          : error(404, 'VoteNotFound', `Member ${m[2]} has not voted for proposal ${m[1]}.`);
      }
      if ((m = /^\/gov\/recovery\/encrypted-shares\/([a-f0-9]{64})$/.exec(p))) {
        const member = service.ledger.members.find((x) => x.memberId === m![1]);
        return member
          ? { status: 200, body: { encryptedShare: member.encryptedShare } }
          : error(404, 'ResourceNotFound', 'no recovery share for this member');
      }
      return error(404, 'ResourceNotFound', `unknown path ${p}`);
    }
    if (method !== 'POST') return error(405, 'UnsupportedHttpVerb', `${method} is not allowed`);
    if (contentType !== 'application/cose')
      return error(415, 'UnsupportedContentType', 'expected content-type application/cose');

    const routes: [
      RegExp,
      string,
      (r: GovernanceEnvelope, memberId: string, m: RegExpExecArray) => { status: number; body?: unknown },
    ][] = [
      [
        /^\/gov\/members\/state-digests\/([a-f0-9]{64}):update$/,
        'state_digest',
        (_r, id) => ({ status: 200, body: { memberId: id, stateDigest: service.stateDigest } }),
      ],
      [
        /^\/gov\/members\/state-digests\/([a-f0-9]{64}):ack$/,
        'ack',
        (r, id) => {
          const digest = (parseJson(r.payload) as { stateDigest?: unknown } | undefined)?.stateDigest;
          if (digest !== service.stateDigest)
            return error(400, 'StateDigestMismatch', 'the acknowledged digest is not the current state digest');
          service.acked.add(id);
          return { status: 204 };
        },
      ],
      [/^\/gov\/members\/proposals:create$/, 'proposal', (r, id) => this.createProposal(service, r, id)],
      [
        /^\/gov\/members\/proposals\/([a-f0-9]{64})\/ballots\/([a-f0-9]{64}):submit$/,
        'ballot',
        (r, id, match) => this.submitBallot(service, r, id, match[1]!),
      ],
      [
        /^\/gov\/recovery\/members\/([a-f0-9]{64}):recover$/,
        'recovery_share',
        (r, id) => this.submitShare(service, r, id),
      ],
    ];
    for (const [pattern, msgType, handle] of routes) {
      const match = pattern.exec(p);
      if (!match) continue;
      let request: GovernanceEnvelope;
      try {
        request = openEnvelope(body);
      } catch (err) {
        if (!(err instanceof EnvelopeError)) throw err;
        return error(400, 'InvalidCoseSign1', (err as Error).message);
      }
      const member = service.ledger.members.find((x) => x.memberId === request.kid);
      if (!member || !signatureVerifies(request, member.certificate)) {
        return error(
          401,
          'InvalidAuthenticationInfo',
          'the COSE signature does not verify against a member certificate',
        );
      }
      if (request.msgType !== msgType)
        return error(401, 'InvalidAuthenticationInfo', `ccf.gov.msg.type must be ${msgType}`);
      const pathMember = /([a-f0-9]{64}):(?:update|ack|submit|recover)$/.exec(p)?.[1];
      if (pathMember && pathMember !== request.kid)
        return error(401, 'InvalidAuthenticationInfo', 'the signer is not the member in the path');
      return handle(request, request.kid, match);
    }
    return error(404, 'ResourceNotFound', `unknown path ${p}`);
  }

  private createProposal(service: Service, request: GovernanceEnvelope, memberId: string) {
    if (service.status !== 'Recovering') return error(403, 'ServiceNotRecovering', `the service is ${service.status}`);
    const content = parseJson(request.payload) as { actions?: { name: string; args?: unknown }[] } | undefined;
    if (!Array.isArray(content?.actions))
      return error(400, 'ProposalFailedToValidate', 'payload must be {"actions": [...]}');
    // proposals.h create_proposal: the id binds the request's signature to the state it was read at, and a
    // request seen before (same created_at and signature, kept in cose_recent_proposals) is a 400 ProposalReplay.
    const replayKey = `${String(request.createdAt).padStart(10, '0')}:${hex(request.signature)}`;
    const seen = service.recentProposals.get(replayKey);
    if (seen) return error(400, 'ProposalReplay', `Proposal submission replay, already exists as proposal ${seen}`);
    const proposalId = createHash('sha256')
      .update(`${service.seqno}`)
      .update(createHash('sha256').update(request.signature).digest())
      .digest('hex');
    service.recentProposals.set(replayKey, proposalId);
    const proposal: Proposal = {
      proposalId,
      proposerId: memberId,
      state: 'Open',
      actions: content.actions,
      ballots: new Map(),
    };
    service.proposals.set(proposalId, proposal);
    return { status: 200, body: proposalBody(proposal) };
  }

  private submitBallot(service: Service, request: GovernanceEnvelope, memberId: string, proposalId: string) {
    const proposal = service.proposals.get(proposalId);
    if (!proposal) return error(404, 'ProposalNotFound', 'no such proposal');
    if (request.proposalId !== proposalId)
      return error(400, 'InvalidCoseSign1', 'ccf.gov.msg.proposal_id does not match the path');
    const script = (parseJson(request.payload) as { ballot?: unknown } | undefined)?.ballot;
    if (typeof script !== 'string') return error(400, 'InvalidBallot', 'payload must be {"ballot": "<script>"}');
    // proposals.h submit_ballot: the same ballot again is answered with the proposal as it stands (no
    // re-evaluation); a different one is refused.
    const previous = proposal.ballots.get(memberId);
    if (previous === script) return { status: 200, body: proposalBody(proposal) };
    if (previous !== undefined)
      return error(400, 'VoteAlreadyExists', `Different ballot already submitted by ${memberId} for ${proposalId}.`);
    if (proposal.state !== 'Open') return error(400, 'ProposalNotOpen', `the proposal is ${proposal.state}`);
    proposal.ballots.set(memberId, script);
    const votes = [...proposal.ballots].map(([id, s]) => [id, /return\s+true/.test(s)] as const);
    const yes = votes.filter(([, v]) => v).length;
    const members = service.ledger.members.length;
    if (yes > members / 2) {
      proposal.finalVotes = Object.fromEntries(votes);
      this.applyProposal(service, proposal);
    } else if (votes.length - yes >= members / 2) {
      proposal.finalVotes = Object.fromEntries(votes);
      proposal.state = 'Rejected';
    }
    return { status: 200, body: proposalBody(proposal) };
  }

  private applyProposal(service: Service, proposal: Proposal): void {
    const action = proposal.actions.find((a) => a.name === 'transition_service_to_open');
    const args = (action?.args ?? {}) as { previous_service_identity?: unknown; next_service_identity?: unknown };
    if (!action) {
      proposal.state = 'Failed';
      proposal.failure = 'unsupported action';
    } else if (
      typeof args.previous_service_identity !== 'string' ||
      pem(args.previous_service_identity) !== pem(service.ledger.serviceCertificate)
    ) {
      proposal.state = 'Failed';
      proposal.failure =
        'Previous service identity does not match the identity of the service whose ledger was recovered';
    } else if (
      typeof args.next_service_identity !== 'string' ||
      pem(args.next_service_identity) !== pem(service.identity.certificatePem)
    ) {
      proposal.state = 'Failed';
      proposal.failure = 'Next service identity does not match the current service identity';
    } else {
      proposal.state = 'Accepted';
      service.status = 'WaitingForRecoveryShares';
    }
  }

  private submitShare(service: Service, request: GovernanceEnvelope, memberId: string) {
    if (service.status !== 'WaitingForRecoveryShares') {
      return error(403, 'ServiceNotWaitingForRecoveryShares', 'Service is not waiting for recovery shares.');
    }
    if (service.nodes.some((n) => n.state === 'ReadingPrivateLedger'))
      return error(403, 'NodeAlreadyRecovering', 'Node is already recovering private ledger.');
    const share = (parseJson(request.payload) as { share?: unknown } | undefined)?.share;
    if (typeof share !== 'string') return error(400, 'InvalidInput', 'payload must be {"share": "<base64>"}');
    service.shares.set(memberId, Buffer.from(share, 'base64'));
    const threshold = service.ledger.recoveryThreshold;
    const submitted = service.shares.size;
    // recovery.h submit_recovery_share: the reply text, with no full stop, and `fullKeySubmitted` (#6705).
    const message = `${submitted}/${threshold} recovery shares successfully submitted`;
    const reply = { submittedCount: submitted, recoveryThreshold: threshold, fullKeySubmitted: false };
    if (submitted < threshold) return { status: 200, body: { message, ...reply } };

    const combines = [...service.shares].every(
      ([id, s]) => service.ledger.members.find((x) => x.memberId === id)?.shareSha256 === hex(s),
    );
    const injected = (this.serviceFaults.failNextShareCombination ?? 0) > 0;
    if (!combines || injected) {
      if (injected) this.serviceFaults.failNextShareCombination! -= 1;
      service.shares.clear();
      // Upstream clears every submitted share when they do not combine.
      return error(500, 'InternalError', 'Failed to initiate private recovery.');
    }
    service.shares.clear();
    this.startPrivateRecovery(service);
    return {
      status: 200,
      body: {
        message: `${message}\nEnd of recovery procedure initiated`,
        ...reply,
      },
    };
  }

  private startPrivateRecovery(service: Service): void {
    const started = Date.now();
    for (const node of service.nodes) {
      node.state = 'ReadingPrivateLedger';
      if (node === service.primary && this.serviceFaults.electionDuringPrivateRecovery) {
        this.later(node, 100, () => {
          service.view += 1;
          service.electionUntil = Date.now() + 500;
          service.primary = service.nodes.find((n) => n !== node && n.running) ?? node;
        });
      }
      this.replay(node, service.snapshotSeqno, service.lastSignedSeqno, () => {
        node.state = 'PartOfNetwork';
        this.busy.push({ address: node.address, what: 'private-ledger', from: started, to: Date.now() });
        if (service.nodes.every((n) => n.state === 'PartOfNetwork') && service.status !== 'Open') {
          service.status = 'Open';
          service.recoveryCount += 1;
        }
      });
    }
  }

  // ---- Control API.

  private async handleControl(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += (chunk as Buffer).toString();
    const started = Number(req.headers['x-launcher-started-at']);
    const launcherStartedAt = Number.isFinite(started) && started > 0 ? started : undefined;
    const send = (status: number, body?: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
    };
    try {
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      const route = `${req.method} ${new URL(req.url ?? '/', 'http://control').pathname}`;
      switch (route) {
        case 'POST /control/nodes':
          return send(201, await this.launch(body, launcherStartedAt));
        case 'POST /control/nodes/stop':
          return send(200, { stopped: await this.stopNode(String(body.address), launcherStartedAt) });
        case 'POST /control/faults':
          this.setFaults(String(body.target), body.faults as NodeFaults);
          return send(204);
        case 'DELETE /control/faults':
          this.clearFaults();
          return send(204);
        case 'GET /control/stats':
          return send(200, this.stats());
        case 'GET /control/exchanges':
          return send(200, this.exchanges());
        case 'POST /control/previous-service':
          await this.startPreviousService(body as unknown as Parameters<CcfSimulator['startPreviousService']>[0]);
          return send(204);
        case 'POST /control/previous-service/crash':
          await this.crashPreviousService();
          return send(204);
        default:
          return send(404, { error: `unknown control route ${route}` });
      }
    } catch (err) {
      return send(err instanceof LaunchError ? err.status : 400, { error: (err as Error).message });
    }
  }
}

function error(status: number, code: string, message: string) {
  return { status, body: { error: { code, message } } };
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

function proposalBody(p: Proposal) {
  return {
    proposalId: p.proposalId,
    proposerId: p.proposerId,
    proposalState: p.state,
    ballotCount: p.ballots.size,
    ...(p.finalVotes ? { finalVotes: p.finalVotes } : {}),
    ...(p.failure ? { failure: { reason: p.failure } } : {}),
  };
}
