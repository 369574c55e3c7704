/**
 * Every API route × every role × no token and a wrong token, against the real dev server. Authentication comes
 * before anything else (a bad body without a token is 401, not 400), each route admits exactly the roles in the
 * table below, and the table must cover every route the OpenAPI document lists.
 */
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import type { FastifyInstance } from 'fastify';
import { buildApi, resolveApiTokens } from '../../api/server';
import { createCodec, createDataConverter } from '../../shared/codec';
import { connectTestTemporal, scratchDir, TEST_ENCRYPTION, writeConfig, type TestTemporal } from '../helpers/temporal';

const TOKENS = { viewer: 'acl-viewer-token-1', operator: 'acl-operator-token-2', approver: 'acl-approver-token-3' };
type Role = keyof typeof TOKENS;
const READ: Role[] = ['viewer', 'operator', 'approver'];
const OPERATE: Role[] = ['operator'];
const APPROVE: Role[] = ['approver'];

/** Method and OpenAPI path → the roles that may call it. */
const MATRIX: Record<string, Role[]> = {
  'post /v1/recoveries': OPERATE,
  'get /v1/recoveries': READ,
  'get /v1/recoveries/{id}': READ,
  'get /v1/recoveries/{id}/report': READ,
  'post /v1/recoveries/{id}/approve': APPROVE,
  'post /v1/recoveries/{id}/vote': APPROVE,
  'post /v1/recoveries/{id}/proposal-submitted': APPROVE,
  'post /v1/recoveries/{id}/shares-submitted': APPROVE,
  'post /v1/recoveries/{id}/archive-arrived': OPERATE,
  'post /v1/recoveries/{id}/agree-timestamp': APPROVE,
  'post /v1/recoveries/{id}/lsu-parameters': APPROVE,
  'post /v1/recoveries/{id}/cancel': OPERATE,
  'post /v1/schedules': OPERATE,
  'get /v1/schedules': READ,
  'get /v1/schedules/{id}': READ,
  'delete /v1/schedules/{id}': OPERATE,
  'post /v1/schedules/{id}/pause': OPERATE,
  'post /v1/schedules/{id}/resume': OPERATE,
  'post /v1/schedules/{id}/trigger': OPERATE,
  'post /codec/encode': READ,
  'post /codec/decode': READ,
};

describe('API access control', () => {
  let temporal: TestTemporal;
  let app: FastifyInstance;
  let base: string;
  // Real requests on loopback (fastify's inject needs an ESM-only cookie module Jest cannot load).
  const request = (method: string, url: string, headers: Record<string, string> = {}, data?: unknown) =>
    axios.request({ method, url: `${base}${url}`, headers, data, validateStatus: () => true, responseType: 'text' });

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    process.env.LEDGER_DR_ACL_VIEWER = TOKENS.viewer;
    process.env.LEDGER_DR_ACL_OPERATOR = TOKENS.operator;
    process.env.LEDGER_DR_ACL_APPROVER = TOKENS.approver;
    const { config } = writeConfig(scratchDir('acl'), {
      networks: { acl: { kind: 'corda', nodes: [{ id: 'n0' }] } },
      api: {
        tokens: [
          { name: 'vera', role: 'viewer', token: { env: 'LEDGER_DR_ACL_VIEWER' } },
          { name: 'olivia', role: 'operator', token: { env: 'LEDGER_DR_ACL_OPERATOR' } },
          { name: 'anna', role: 'approver', token: { env: 'LEDGER_DR_ACL_APPROVER' } },
        ],
      },
    });
    app = await buildApi({
      connection: temporal.connection,
      namespace: 'default',
      dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
      codec: await createCodec(TEST_ENCRYPTION),
      config,
      taskQueue: 'acl-unused',
      tokens: await resolveApiTokens(config),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await temporal?.close();
  });

  it('covers every route of the OpenAPI document', async () => {
    const doc = JSON.parse((await request('get', '/openapi.json')).data as string) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(listed.sort()).toEqual(Object.keys(MATRIX).sort());
  });

  const cells = Object.entries(MATRIX).flatMap(([route, allowed]) =>
    (['none', 'wrong', 'viewer', 'operator', 'approver'] as const).map((who) => ({ route, allowed, who })),
  );

  it.each(cells)('$route as $who', async ({ route, allowed, who }) => {
    const [method, template] = route.split(' ') as [string, string];
    const url = template.replace('{id}', 'acl-no-such-run');
    const headers: Record<string, string> =
      who === 'none' ? {} : { authorization: `Bearer ${who === 'wrong' ? 'not-a-token' : TOKENS[who]}` };
    // A body that is wrong on purpose: authentication and authorisation must answer before validation does.
    const response = await request(
      method,
      url,
      headers,
      method === 'get' || method === 'delete' ? undefined : { unexpected: '<script>' },
    );
    if (who === 'none' || who === 'wrong') expect(response.status).toBe(401);
    else if (!allowed.includes(who)) expect(response.status).toBe(403);
    else expect([401, 403]).not.toContain(response.status);
    // Never a server error or a stack trace, whoever asks.
    expect(response.status).toBeLessThan(500);
    expect(String(response.data)).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
  });

  it('accepts the codec token in the path (for the Temporal UI) only for a known token', async () => {
    const ok = await request('post', `/codec/t/${TOKENS.viewer}/decode`, {}, { payloads: [] });
    expect(ok.status).toBe(200);
    const bad = await request('post', '/codec/t/not-a-token/decode', {}, { payloads: [] });
    expect(bad.status).toBe(401);
  });
});
