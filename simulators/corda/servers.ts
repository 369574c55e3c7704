/**
 * The wire formats of simulated Corda nodes: each node's SSH shell (ssh2's server, password auth, one exec
 * per command as `ssh -p <port> user@host '<command>'` would send) printing as the node shell does, and one
 * HTTP server carrying every node's Jolokia endpoint at `/<node>/jolokia/` (read, exec, search, bulk, with
 * Jolokia's JSON status that can be an error under HTTP 200) plus a control API for the launcher stand-in.
 * A stopped node answers neither.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, utils, type Connection } from 'ssh2';
import { parse as parseYaml } from 'yaml';
import {
  CordaException,
  flowSignatures,
  ShellRefusal,
  type CordaBusinessNetwork,
  type SimulatedCordaNode,
} from './network';

export interface ShellEndpoint {
  node: string;
  port: number;
}

export class CordaNetworkServers {
  shells: ShellEndpoint[] = [];
  hostKeySha256 = '';
  httpUrl = '';
  private sshServers: Server[] = [];
  private httpServer?: http.Server;
  private readonly hostKey = utils.generateKeyPairSync('ed25519');

  constructor(
    readonly network: CordaBusinessNetwork,
    private readonly credentials: { user: string; password: string },
  ) {}

  async start(): Promise<void> {
    for (const node of this.network.nodes) {
      const server = new Server({ hostKeys: [this.hostKey.private] }, (client) => this.onClient(node, client));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.sshServers.push(server);
      this.shells.push({ node: node.id, port: (server.address() as AddressInfo).port });
    }
    const parsed = utils.parseKey(this.hostKey.public) as unknown as { getPublicSSH(): Buffer };
    const { createHash } = await import('node:crypto');
    this.hostKeySha256 = `SHA256:${createHash('sha256').update(parsed.getPublicSSH()).digest('base64').replace(/=+$/, '')}`;
    this.httpServer = http.createServer((req, res) => void this.onHttp(req, res));
    await new Promise<void>((resolve) => this.httpServer!.listen(0, '127.0.0.1', resolve));
    this.httpUrl = `http://127.0.0.1:${(this.httpServer.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sshServers) await new Promise<void>((resolve) => s.close(() => resolve()));
    this.httpServer?.closeAllConnections();
    await new Promise<void>((resolve) => (this.httpServer ? this.httpServer.close(() => resolve()) : resolve()));
  }

  shellPort(node: string): number {
    return this.shells.find((s) => s.node === node)!.port;
  }

  jolokiaUrl(node: string): string {
    return `${this.httpUrl}/${node}/jolokia/`;
  }

  private onClient(node: SimulatedCordaNode, client: Connection): void {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (!node.running) return ctx.reject();
      if (
        ctx.method === 'password' &&
        ctx.username === this.credentials.user &&
        ctx.password === this.credentials.password
      )
        return ctx.accept();
      return ctx.reject(['password']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          const flow = /^flow start (\w+)/.exec(info.command.trim())?.[1];
          const delay = (flow && node.faults.slowFlows.get(flow)) || 0;
          setTimeout(() => {
            void shellCommand(node, info.command).then((output) => {
              stream.write(output);
              stream.exit(0);
              stream.end();
            });
          }, delay);
        });
      });
    });
  }

  private async onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://corda');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const control = /^\/control\/([^/]+)\/(start|stop)$/.exec(url.pathname);
    if (control && req.method === 'POST') {
      const node = this.network.nodes.find((n) => n.id === control[1]);
      if (!node) return send(404, { error: 'no such node' });
      if (control[2] === 'stop') {
        node.stop();
        return send(node.running ? 409 : 200, { status: node.status });
      }
      node.start({ pauseAllFlows: url.searchParams.get('pauseAllFlows') === 'true' });
      return send(200, { status: node.status });
    }
    const jolokia = /^\/([^/]+)\/jolokia\/?$/.exec(url.pathname);
    const node = jolokia && this.network.nodes.find((n) => n.id === jolokia[1]);
    if (!node) return send(404, { error: 'not found' });
    if (!node.running) {
      req.socket.destroy();
      return;
    }
    let body = '';
    for await (const chunk of req) body += (chunk as Buffer).toString();
    let request: unknown;
    try {
      request = JSON.parse(body);
    } catch {
      return send(200, jolokiaError(null, 400, 'java.lang.IllegalArgumentException', 'Invalid JSON request'));
    }
    // Jolokia answers errors with HTTP 200 and the status in the body.
    send(200, Array.isArray(request) ? request.map((r) => jolokiaReply(node, r)) : jolokiaReply(node, request));
  }
}

/** Flows whose result may be null, printed `null`; every other null result is a Unit flow's `kotlin.Unit`. */
const NULLABLE_RESULTS = new Set(['GetReconciliationStatusForPartyFlow', 'GetCurrentRecoveryRequestWithPartyFlow']);
const ansi = (code: string) => `\u001b[${code}`;

/**
 * What the node shell prints for one command, as corda-shell does over SSH (ANSI on): the progress steps,
 * then `Flow completed with result: <toString()>` on one line; on failure no result line, but each message
 * of the cause chain in red after ☠ (ANSIProgressRenderer); the shell's own refusals as plain text.
 */
export async function shellCommand(node: SimulatedCordaNode, command: string): Promise<string> {
  const flow = /^flow start (\w+)\s*(.*)$/s.exec(command.trim());
  const progress = `${ansi('2K')}\n${ansi('1m')} \u27a1\ufe0f  Starting${ansi('22m')}${ansi('0K')}\n`;
  try {
    if (flow) {
      const name = flow[1]!;
      const result = node.runFlow(name, parseArguments(flow[2]!));
      const text =
        result === null || result === undefined
          ? NULLABLE_RESULTS.has(name)
            ? 'null'
            : 'kotlin.Unit'
          : Array.isArray(result)
            ? `[${result.map(String).join(', ')}]`
            : String(result);
      return `${progress}${ansi('1A')} \u2705  Starting${ansi('0K')}\n \u27a1\ufe0f  Done${ansi('0K')}\n\nFlow completed with result: ${text}\n`;
    }
    const run = /^run (\w+)\s*(.*)$/s.exec(command.trim());
    if (run?.[1] === 'killFlow') return `${await node.killFlow(String(parseArguments(run[2]!).id))}\n`;
    if (command.trim() === 'flow list') {
      return `${Object.keys(flowSignatures)
        .map(
          (f) =>
            `${f.includes('LedgerRecoveryFlow') ? 'net.corda.core.flows' : 'com.r3.corda.lib.ledgersync.flows'}.${f}`,
        )
        .join('\n')}\nnet.corda.core.flows.ContractUpgradeFlow$Authorise\n`;
    }
    return `Unknown command: ${command}\n`;
  } catch (err) {
    if (err instanceof ShellRefusal) return `${err.message}\n`;
    // A flow's exception reaches the shell as a CordaRuntimeException whose message names the original class.
    const message = err instanceof CordaException ? `${qualified(err.type)}: ${err.message}` : (err as Error).message;
    return `${progress}${ansi('31m')}\u2620\ufe0f ${message}\n${ansi('0m')}${ansi('0K')}\n`;
  }
}

/** `key: value, key2: [a, b]` as the shell reads it (a YAML flow mapping without braces). */
function parseArguments(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  const parsed = parseYaml(`{${text}}`) as unknown;
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`cannot parse arguments: ${text}`);
  return parsed as Record<string, unknown>;
}

const PACKAGES: Record<string, string> = {
  ReconciliationAlreadyScheduledException: 'com.r3.corda.lib.ledgersync.exceptions',
  MaxIncomingSessionsExceededException: 'com.r3.corda.lib.ledgersync.exceptions',
  TransactionLimitExceededException: 'com.r3.corda.lib.ledgerrecover.exceptions',
  RequestLimitExceededException: 'com.r3.corda.lib.ledgerrecover.exceptions',
  SizeLimitExceededException: 'com.r3.corda.lib.ledgerrecover.exceptions',
  MultipleRecoveryRecordsException: 'com.r3.corda.lib.ledgerrecover.exceptions',
  ManualRecoveryException: 'com.r3.corda.lib.ledgerrecover.exceptions',
  VaultExporterException: 'com.r3.corda.lib.ledgerrecover.exceptions',
  CorruptedArchiveException: 'com.r3.corda.lib.ledgerrecover.exceptions',
};

function qualified(type: string): string {
  return `${PACKAGES[type] ?? 'java.lang'}.${type}`;
}

function jolokiaError(request: unknown, status: number, type: string, message: string) {
  return { request, status, error_type: type, error: `${type} : ${message}`, timestamp: Math.floor(Date.now() / 1000) };
}

/**
 * LedgerSync's metrics: one MBean with the documented attribute names (FACTS.md §4). Upstream does not document
 * its object name, so the simulator uses one no client should hard-code; clients find it by its attributes.
 */
export const LEDGER_SYNC_MBEAN = 'com.r3.corda.lib.ledgersync.simulated:type=Metrics,service=LedgerSync';

/** One Jolokia request against the node's MBeans. */
function jolokiaReply(node: SimulatedCordaNode, request: unknown) {
  const r = request as { type?: string; mbean?: string; attribute?: string | string[]; operation?: string };
  const ok = (value: unknown) => ({ request, value, status: 200, timestamp: Math.floor(Date.now() / 1000) });
  const statuses = [...node.reconciliations.values()];
  const count = (...wanted: string[]) => statuses.filter((s) => wanted.includes(s.status)).length;
  const beans: Record<string, Record<string, unknown>> = {
    'net.corda:type=Node,name=Status': { Value: node.status },
    [LEDGER_SYNC_MBEAN]: {
      NumberOfScheduledReconciliations: statuses.length,
      NumberOfReconciliationsInProgress: count('IN_PROGRESS'),
      NumberOfFailedReconciliations: count('FAILED'),
      NumberOfReconciliationsWithDifferences: count('DIFFERENCES_FOUND'),
      NumberOfReconciliationsWithoutDifferences: count('DIFFERENCES_NOT_FOUND'),
      FailedParties: statuses.filter((s) => s.status === 'FAILED').map((s) => s.party),
      PartiesWithDifference: statuses.filter((s) => s.status === 'DIFFERENCES_FOUND').map((s) => s.party),
    },
  };
  if (r.type === 'list') {
    // Jolokia's list: domain → key properties → { desc, attr: { name: { type, rw, desc } } }.
    const tree: Record<string, Record<string, { desc: string; attr: Record<string, unknown> }>> = {};
    for (const [name, attributes] of Object.entries(beans)) {
      const [domain, keys] = [name.slice(0, name.indexOf(':')), name.slice(name.indexOf(':') + 1)];
      (tree[domain] ??= {})[keys] = {
        desc: 'Information on the management interface of the MBean',
        attr: Object.fromEntries(
          Object.entries(attributes).map(([a, v]) => [
            a,
            {
              type: Array.isArray(v) ? '[Ljava.lang.String;' : typeof v === 'number' ? 'int' : 'java.lang.String',
              rw: false,
              desc: a,
            },
          ]),
        ),
      };
    }
    return ok(tree);
  }
  if (r.type === 'search') {
    const pattern = new RegExp(`^${(r.mbean ?? '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    return ok(Object.keys(beans).filter((name) => pattern.test(name)));
  }
  const bean = r.mbean ? beans[r.mbean] : undefined;
  if (!bean) return jolokiaError(request, 404, 'javax.management.InstanceNotFoundException', `${r.mbean}`);
  if (r.type === 'read') {
    if (!r.attribute) return ok(bean);
    if (Array.isArray(r.attribute)) {
      const missing = r.attribute.find((a) => !(a in bean));
      if (missing)
        return jolokiaError(
          request,
          404,
          'javax.management.AttributeNotFoundException',
          `No such attribute: ${missing}`,
        );
      return ok(Object.fromEntries(r.attribute.map((a) => [a, bean[a]])));
    }
    if (!(r.attribute in bean))
      return jolokiaError(
        request,
        404,
        'javax.management.AttributeNotFoundException',
        `No such attribute: ${r.attribute}`,
      );
    return ok(bean[r.attribute]);
  }
  if (r.type === 'exec') {
    return jolokiaError(
      request,
      404,
      'java.lang.IllegalArgumentException',
      `No operation ${r.operation} found on MBean ${r.mbean}`,
    );
  }
  return jolokiaError(request, 400, 'java.lang.IllegalArgumentException', `Unknown type ${r.type}`);
}
