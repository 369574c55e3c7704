/**
 * A simulated Splice validator app: the parts of its API that recovery uses, with bearer-token (JWT)
 * authentication that checks the audience. It serves only upstream's paths, under the validator's
 * `/api/validator` prefix, with upstream's request parameters and response schemas (the OpenAPI files in
 * test/reference/splice; every Canton test checks the recorded exchanges against them):
 *   - `GET /readyz`, `/livez`, `/version` (common-external.yaml);
 *   - `GET /v0/admin/users` → ListUsersResponse `{usernames}` (validator-internal.yaml);
 *   - `GET /v0/admin/participant/identities` → NodeIdentitiesDump (common-internal.yaml);
 *   - `GET /v0/wallet/balance` → GetBalanceResponse (wallet-internal.yaml);
 *   - `GET /v0/entry/all` → ListAnsEntriesResponse (ans-external.yaml);
 *   - `GET /v0/admin/domain/data-snapshot` → GetValidatorDomainDataSnapshotResponse, only on releases before
 *     0.6.7 (v0.4.15's validator-internal.yaml; removed by #5744), with the 400 and 429 the DR guide documents.
 * Its users live in the real PostgreSQL `validator` database, so a restore is visible through the API exactly
 * as on a real node. It is started and stopped by `validator-ctl.ts`, which stands in for Splice's start.sh/stop.sh.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';

export interface ValidatorSimulatorOptions {
  /** HMAC secret the simulated identity provider signs tokens with. */
  tokenSecret: string;
  audience: string;
  participantId: string;
  postgres: { host: string; port: number; user: string; password: string };
  migrationId: number;
  /** The Splice release the app reports (`/version`); the data-snapshot endpoint exists before 0.6.7. */
  release?: string;
  /** Until when (ms since the epoch) the participant is still catching up, logging `Processing event at`. */
  catchingUpUntil?: number;
  /** The validator party's unexpired name entries (ANS/CNS); none is a valid answer too. */
  nameEntries?: string[];
  /**
   * The app's `domain-upgrade-dump` volume: on a start with a higher migration id the app consumes
   * `domain_migration_dump.json` from here, and refuses to start when it is missing or not the snapshot.
   */
  dumpVolume?: string;
}

/** How the data-snapshot endpoint behaves; faults are used up in order (429s, then 400, then 200). */
export interface SnapshotBehaviour {
  /** Approximate size of `data_snapshot` (the ACS dominates it). */
  bytes: number;
  /** Answer 429 (participant not caught up to the timestamp) this many times first. */
  notCaughtUp: number;
  /** Answer 400 (participant pruned past the timestamp), always. */
  pruned: boolean;
  /** Slow the body down (bytes a second), so a test can kill a downloader mid-body. */
  bytesPerSecond?: number;
  /** Answer 200 with a body cut off mid-JSON this many times (a proxy or validator failing mid-stream). */
  truncated?: number;
}

export interface ValidatorExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  responseContentType: string | null;
  responseBody: unknown;
}

export interface SnapshotServed {
  timestamp: string;
  /** SHA-256 and length of the `data_snapshot` value exactly as it was serialised in the response. */
  sha256: string;
  bytes: number;
}

/** A compact HS256 JWT, as an OAuth2 client-credentials flow would hand out. */
export function issueToken(secret: string, audience: string, subject = 'ledger-dr'): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: subject, aud: audience, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

export class CantonValidatorSimulator {
  private server?: http.Server;
  private running = false;
  /** Whether this node hosts the validator party (lost with the node; back after re-onboarding). */
  private partyHosted = true;
  participantId: string;
  private readonly identityKeys = randomBytes(64).toString('base64');
  starts = 0;
  stops = 0;
  migrationId: number;
  snapshot: SnapshotBehaviour = { bytes: 64 * 1024, notCaughtUp: 0, pruned: false };
  /** Every data-snapshot request, with the HTTP status it got. */
  snapshotRequests: { timestamp: string; status: number }[] = [];
  /** Every complete snapshot body sent. */
  snapshotsServed: SnapshotServed[] = [];
  /** Migration dumps consumed at start-up with a new migration id. */
  dumpsConsumed: { migrationId: number; sha256: string }[] = [];
  /** Every request answered, for checking against upstream's OpenAPI (large snapshot strings elided). */
  readonly exchanges: ValidatorExchange[] = [];
  readonly release: string;
  /** The physical synchronizer the participant is connected to (alias "global"). */
  physicalSynchronizerId = 'global-domain::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a::34-0';
  /** Until when (ms since the epoch) the participant still logs `Processing event at` (from the options). */
  catchingUpUntil?: number;
  /** Every roll-forward LSU the console stand-in performed. */
  lsuPerformed: { from: string; to: string; sequencerSuccessors: unknown[] }[] = [];
  url = '';
  controlUrl = '';

  constructor(private readonly options: ValidatorSimulatorOptions) {
    this.participantId = options.participantId;
    this.migrationId = options.migrationId;
    this.release = options.release ?? '0.4.15';
    this.catchingUpUntil = options.catchingUpUntil;
  }

  /** Whether this release still serves `/v0/admin/domain/data-snapshot` (removed on main by #5744, 0.6.7). */
  get servesDataSnapshot(): boolean {
    const [major = 0, minor = 0, patch = 0] = this.release.split('.').map(Number);
    return major === 0 && (minor < 6 || (minor === 6 && patch < 7));
  }

  private identitiesDump() {
    return {
      id: this.participantId,
      keys: [{ keyPair: this.identityKeys, name: 'namespace' }],
      authorizedStoreSnapshot: Buffer.from(`topology of ${this.options.participantId}`).toString('base64'),
      version: '0.3.0',
    };
  }

  /** The node is lost: stopped, and its participant (keys, party) gone. */
  loseNode(): void {
    this.bringDown();
    this.partyHosted = false;
  }

  /**
   * What start.sh -i <dump> -P <new id> does: a new participant takes over the old identities. Refused (as
   * Splice would fail) when the dump's keys are not this validator's.
   */
  reonboard(identitiesFile: string, newParticipantId: string): void {
    const dump = JSON.parse(readFileSync(identitiesFile, 'utf8')) as { keys?: { keyPair?: string }[] };
    if (dump.keys?.[0]?.keyPair !== this.identityKeys) throw new Error("the identities dump is not this validator's");
    this.participantId = newParticipantId;
    this.partyHosted = true;
    this.bringUp();
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.controlUrl = this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** What start.sh does: the app comes up (and reads its databases). */
  bringUp(): void {
    if (!this.running) this.starts++;
    this.running = true;
  }

  /** What stop.sh does. */
  bringDown(): void {
    if (this.running) this.stops++;
    this.running = false;
  }

  get isRunning(): boolean {
    return this.running;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://validator');
    const record = (status: number, body: unknown, contentType: string | null) =>
      this.exchanges.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
        responseContentType: contentType,
        responseBody: body,
      });
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
      if (!url.pathname.startsWith('/control/')) record(status, body, body === undefined ? null : 'application/json');
    };
    // Control endpoints for the start.sh/stop.sh stand-in; not part of Splice's API.
    if (req.method === 'POST' && url.pathname === '/control/start') {
      const identities = url.searchParams.get('identities');
      const participant = url.searchParams.get('participantId');
      const migrationId = url.searchParams.get('migrationId');
      try {
        if (identities && participant) {
          // A re-onboarded participant joins the synchronizer as it is now: no migration dump to consume.
          this.reonboard(identities, participant);
          if (migrationId !== null) this.migrationId = Math.max(this.migrationId, Number(migrationId));
        } else {
          if (migrationId !== null) await this.migrate(Number(migrationId));
          this.bringUp();
        }
      } catch (err) {
        return send(400, { error: (err as Error).message });
      }
      return send(204);
    }
    if (req.method === 'POST' && url.pathname === '/control/stop') return (this.bringDown(), send(204));
    // For the lsu.lastEventCommand stand-in: when the participant last logged `Processing event at`.
    if (req.method === 'GET' && url.pathname === '/control/last-event') {
      const until = this.catchingUpUntil;
      return send(200, { at: until === undefined ? null : new Date(Math.min(Date.now(), until)).toISOString() });
    }
    // For the Canton console stand-in: the participant's connection, and perform_manual_lsu.
    if (req.method === 'GET' && url.pathname === '/control/synchronizer')
      return send(200, { alias: 'global', physicalSynchronizerId: this.physicalSynchronizerId });
    if (req.method === 'POST' && url.pathname === '/control/lsu') {
      let text = '';
      for await (const chunk of req) text += (chunk as Buffer).toString();
      const body = JSON.parse(text) as { current: string; successor: string; sequencerSuccessors: unknown[] };
      if (!this.running) return send(409, { error: 'the participant is not running' });
      if (body.current !== this.physicalSynchronizerId)
        return send(409, { error: `not connected to ${body.current} (connected to ${this.physicalSynchronizerId})` });
      if (!Array.isArray(body.sequencerSuccessors) || body.sequencerSuccessors.length === 0)
        return send(409, { error: 'the list of sequencer successors is empty' });
      if ((this.catchingUpUntil ?? 0) > Date.now())
        return send(409, { error: 'the participant is still processing events of the existing synchronizer' });
      this.lsuPerformed.push({ from: body.current, to: body.successor, sequencerSuccessors: body.sequencerSuccessors });
      this.physicalSynchronizerId = body.successor;
      return send(204);
    }

    if (!this.running) {
      // A stopped app does not answer at all.
      req.socket.destroy();
      return;
    }
    const route = `${req.method} ${url.pathname.replace(/^\/api\/validator(?=\/)/, '')}`;
    // common-external.yaml: health and version need no token.
    if (route === 'GET /readyz' || route === 'GET /livez') return send(200);
    if (route === 'GET /version') return send(200, { version: this.release, commit_ts: '2026-08-20T00:00:00Z' });
    if (!url.pathname.startsWith('/api/validator/'))
      return send(404, { error: 'The requested resource could not be found.' });
    const auth = this.authenticate(req.headers.authorization);
    if (auth) return send(auth.status, { error: auth.error });
    try {
      switch (route) {
        case 'GET /v0/admin/domain/data-snapshot':
          if (!this.servesDataSnapshot) break;
          return await this.dataSnapshot(url, req, res, send, record);
        case 'GET /v0/admin/participant/identities':
          return send(200, this.identitiesDump());
        // The validator party's wallet balance and name entries live on the network; this node sees them only
        // while it hosts the party.
        case 'GET /v0/wallet/balance':
          if (!this.partyHosted) return send(404, { error: 'the validator party is not hosted on this participant' });
          return send(200, {
            round: 1024,
            effective_unlocked_qty: '1250.5000000000',
            effective_locked_qty: '0.0000000000',
            total_holding_fees: '0.0000000000',
          });
        case 'GET /v0/entry/all':
          if (!this.partyHosted) return send(404, { error: 'the validator party is not hosted on this participant' });
          return send(200, {
            entries: (this.options.nameEntries ?? ['validator1.unverified.cns']).map((name, i) => ({
              contractId: `00${createHash('sha256').update(name).digest('hex')}`,
              name,
              amount: '1.0000000000',
              unit: 'USD',
              expiresAt: `2027-11-2${i}T00:00:00Z`,
              paymentInterval: '90d',
              paymentDuration: '90d',
            })),
          });
        case 'GET /v0/admin/users': {
          const users = await this.query<{ name: string }>('select name from users order by name');
          return send(200, { usernames: users.map((u) => u.name) });
        }
      }
      return send(404, { error: 'The requested resource could not be found.' });
    } catch (err) {
      return send(500, { error: (err as Error).message });
    }
  }

  /**
   * Starting with a higher migration id means consuming the migration dump from the volume, as the Splice app
   * does; a missing dump or one that is not the snapshot this app produced stops the start.
   */
  private async migrate(migrationId: number): Promise<void> {
    if (!Number.isInteger(migrationId) || migrationId < this.migrationId) {
      throw new Error(`migration id ${migrationId} is lower than the current ${this.migrationId}`);
    }
    if (migrationId === this.migrationId) return;
    if (!this.options.dumpVolume) throw new Error('no domain-upgrade-dump volume configured');
    const file = path.join(this.options.dumpVolume, 'domain_migration_dump.json');
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    } catch {
      throw new Error(`migration id ${migrationId} needs ${file}, which is missing`);
    }
    const sha256 = hash.digest('hex');
    if (!this.snapshotsServed.some((s) => s.sha256 === sha256)) {
      throw new Error(`${file} is not a data snapshot this validator produced`);
    }
    this.dumpsConsumed.push({ migrationId, sha256 });
    this.migrationId = migrationId;
  }

  /**
   * GET /api/validator/v0/admin/domain/data-snapshot?timestamp=…&force=true: 429 while the participant has not
   * caught up, 400 when it was pruned past the timestamp, else `{migration_id, data_snapshot, …}` streamed with
   * back-pressure, so gigabyte snapshots cost the simulator no memory either.
   */
  private async dataSnapshot(
    url: URL,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    send: (status: number, body?: unknown) => void,
    record: (status: number, body: unknown, contentType: string | null) => void,
  ): Promise<void> {
    const timestamp = url.searchParams.get('timestamp') ?? '';
    const answer = (status: number, error: string) => {
      this.snapshotRequests.push({ timestamp, status });
      send(status, { error });
    };
    if (Number.isNaN(Date.parse(timestamp)) || !timestamp.endsWith('Z')) {
      return answer(400, 'timestamp: expected an ISO-8601 UTC timestamp such as 2024-04-17T19:12:02Z');
    }
    if (this.snapshot.pruned) {
      return answer(400, `the participant has been pruned beyond ${timestamp}; cannot export the ACS at that time`);
    }
    if (this.snapshot.notCaughtUp > 0) {
      this.snapshot.notCaughtUp--;
      return answer(429, `the participant has not caught up to ${timestamp} yet`);
    }
    this.snapshotRequests.push({ timestamp, status: 200 });
    const identities = this.identitiesDump();
    // The ACS export dominates a real snapshot: a deterministic base64 body of the requested size.
    const block = Buffer.alloc(48 * 1024);
    for (let i = 0; i < block.length; i += 32) createHash('sha256').update(`${timestamp}:${i}`).digest().copy(block, i);
    const blockText = block.toString('base64');
    // DomainMigrationDump (v0.4.15 validator-internal.yaml), its fields in schema order.
    const domainId = 'global-domain::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a';
    const darHash = `1220${'ab'.repeat(32)}`;
    const head =
      `{"participant":${JSON.stringify(identities)},"participant_users":{"identityProviders":[],"users":[]},` +
      `"acs_snapshot":"`;
    const tail =
      `","acs_timestamp":${JSON.stringify(timestamp)},"dars":[{"hash":"${darHash}","content":"UEsDBBQACAgIAA=="}],` +
      `"migration_id":${this.migrationId},"domain_id":"${domainId}","created_at":${JSON.stringify(timestamp)}}`;
    record(
      200,
      {
        data_snapshot: {
          participant: identities,
          participant_users: { identityProviders: [], users: [] },
          acs_snapshot: `(${this.snapshot.bytes} bytes of base64, not recorded)`,
          acs_timestamp: timestamp,
          dars: [{ hash: darHash, content: 'UEsDBBQACAgIAA==' }],
          migration_id: this.migrationId,
          domain_id: domainId,
          created_at: timestamp,
        },
        migration_id: this.migrationId,
      },
      'application/json',
    );
    const hash = createHash('sha256');
    let bytes = 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    const write = async (text: string, partOfSnapshot: boolean) => {
      if (partOfSnapshot) {
        hash.update(text);
        bytes += text.length;
      }
      if (!res.write(text)) {
        await Promise.race([new Promise((resolve) => res.once('drain', resolve)), gone]);
      }
      if (this.snapshot.bytesPerSecond) {
        await new Promise((resolve) => setTimeout(resolve, (text.length / this.snapshot.bytesPerSecond!) * 1000));
      }
    };
    let closed = false;
    const gone = new Promise((resolve) => res.once('close', resolve)).then(() => (closed = true));
    await write(`{"data_snapshot":`, false);
    await write(head, true);
    for (let sent = 0; sent < this.snapshot.bytes && !closed; sent += blockText.length) await write(blockText, true);
    if (this.snapshot.truncated) {
      // Ends cleanly at the HTTP level, mid-JSON: only the parser can tell.
      this.snapshot.truncated--;
      res.end();
      return;
    }
    await write(tail, true);
    await write(`,"migration_id":${this.migrationId}}`, false);
    res.end();
    if (!closed) this.snapshotsServed.push({ timestamp, sha256: hash.digest('hex'), bytes });
  }

  private authenticate(header: string | undefined): { status: number; error: string } | undefined {
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    const parts = token?.split('.');
    if (!parts || parts.length !== 3) return { status: 401, error: 'missing or malformed bearer token' };
    const expected = createHmac('sha256', this.options.tokenSecret).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2]!, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { status: 401, error: 'invalid token signature' };
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { aud?: string; exp?: number };
    if (claims.aud !== this.options.audience)
      return { status: 401, error: `token audience must be ${this.options.audience}` };
    if ((claims.exp ?? 0) < Date.now() / 1000) return { status: 401, error: 'token expired' };
    return undefined;
  }

  private async query<T>(sql: string): Promise<T[]> {
    const client = new Client({ ...this.options.postgres, database: 'validator' });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }
}
