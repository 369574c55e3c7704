/**
 * A simulated Splice validator app: the parts of its admin API that recovery uses, with bearer-token (JWT)
 * authentication that checks the audience, a readiness endpoint, and the node-identities dump. Its users live
 * in the real PostgreSQL `validator` database, so a restore is visible through the API exactly as on a real
 * node. It is started and stopped by `validator-ctl.ts`, which stands in for Splice's start.sh/stop.sh.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';

export interface ValidatorSimulatorOptions {
  /** HMAC secret the simulated identity provider signs tokens with. */
  tokenSecret: string;
  audience: string;
  participantId: string;
  postgres: { host: string; port: number; user: string; password: string };
  migrationId: number;
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
  url = '';
  controlUrl = '';

  constructor(private readonly options: ValidatorSimulatorOptions) {
    this.participantId = options.participantId;
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
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://validator');
    // Control endpoints for the start.sh/stop.sh stand-in; not part of Splice's API.
    if (req.method === 'POST' && url.pathname === '/control/start') {
      const identities = url.searchParams.get('identities');
      const participant = url.searchParams.get('participantId');
      try {
        if (identities && participant) this.reonboard(identities, participant);
        else this.bringUp();
      } catch (err) {
        return send(400, { error: (err as Error).message });
      }
      return send(204);
    }
    if (req.method === 'POST' && url.pathname === '/control/stop') return (this.bringDown(), send(204));

    if (!this.running) {
      // A stopped app does not answer at all.
      req.socket.destroy();
      return;
    }
    if (url.pathname === '/api/validator/readyz') return send(200);
    const auth = this.authenticate(req.headers.authorization);
    if (auth) return send(auth.status, { error: auth.error });
    try {
      if (req.method === 'GET' && url.pathname === '/api/validator/v0/admin/participant/identities') {
        return send(200, {
          id: this.participantId,
          keys: [{ keyPair: this.identityKeys, name: 'namespace' }],
          authorizedStoreSnapshot: Buffer.from(`topology of ${this.options.participantId}`).toString('base64'),
          version: '0.3.0',
        });
      }
      // The validator party's wallet balance and name entries live on the network; this node sees them only
      // while it hosts the party.
      if (req.method === 'GET' && url.pathname === '/api/validator/v0/wallet/balance') {
        if (!this.partyHosted) return send(404, { error: 'the validator party is not hosted on this participant' });
        return send(200, {
          round: 1024,
          effective_unlocked_qty: '1250.5000000000',
          effective_locked_qty: '0.0000000000',
        });
      }
      if (req.method === 'GET' && url.pathname === '/api/validator/v0/wallet/ans-entries') {
        if (!this.partyHosted) return send(404, { error: 'the validator party is not hosted on this participant' });
        return send(200, { entries: [{ name: 'validator1.unverified.cns', expires_at: '2027-11-24T00:00:00Z' }] });
      }
      if (req.method === 'GET' && url.pathname === '/api/validator/v0/admin/users') {
        const users = await this.query<{ name: string; onboarded_at: Date }>(
          'select name, onboarded_at from users order by onboarded_at',
        );
        return send(200, {
          usernames: users.map((u) => u.name),
          users: users.map((u) => ({ name: u.name, onboardedAt: u.onboarded_at.toISOString() })),
        });
      }
      return send(404, { error: `unknown path ${url.pathname}` });
    } catch (err) {
      return send(500, { error: (err as Error).message });
    }
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
