/**
 * The HTTP API on loopback against the real dev server, a real worker and the CCF simulator.
 */
import type { AddressInfo } from 'node:net';
import axios, { type AxiosRequestConfig } from 'axios';
import type { FastifyInstance } from 'fastify';
import { buildApi, resolveApiTokens } from '../../api/server';
import { createCodec, createDataConverter } from '../../shared/codec';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import { createCcfTestNetwork, type CcfTestNetwork } from '../helpers/ccf';
import {
  connectTestTemporal,
  startTestWorker,
  TEST_ENCRYPTION,
  uniqueTaskQueue,
  writeConfig,
  type TestTemporal,
} from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const TOKENS = { viewer: 'viewer-token-0123', operator: 'operator-token-4567', approver: 'approver-token-89ab' };

describe('HTTP API', () => {
  let temporal: TestTemporal;
  let sim: CcfSimulator;
  let net: CcfTestNetwork;
  let app: FastifyInstance;
  let base: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    sim = new CcfSimulator({ replayEntriesPerSecond: 5000 });
    await sim.start();
    net = await createCcfTestNetwork(sim, { name: 'apinet', nodes: [{ id: 'n0', lastSignedSeqno: 40 }] });
    process.env.LEDGER_DR_TEST_VIEWER = TOKENS.viewer;
    process.env.LEDGER_DR_TEST_OPERATOR = TOKENS.operator;
    process.env.LEDGER_DR_TEST_APPROVER = TOKENS.approver;
    const { config } = writeConfig(net.dir, {
      ...net.rawConfig,
      api: {
        tokens: [
          { name: 'vera', role: 'viewer', token: { env: 'LEDGER_DR_TEST_VIEWER' } },
          { name: 'olivia', role: 'operator', token: { env: 'LEDGER_DR_TEST_OPERATOR' } },
          { name: 'anna', role: 'approver', token: { env: 'LEDGER_DR_TEST_APPROVER' } },
        ],
      },
    });
    const taskQueue = uniqueTaskQueue('api');
    worker = await startTestWorker(temporal, taskQueue, { config });
    app = await buildApi({
      connection: temporal.connection,
      namespace: 'default',
      dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
      codec: await createCodec(TEST_ENCRYPTION),
      config,
      taskQueue,
      tokens: await resolveApiTokens(config),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await sim?.stop();
    await temporal?.close();
  });

  const call = (
    method: string,
    path: string,
    role?: keyof typeof TOKENS,
    data?: unknown,
    extra: AxiosRequestConfig = {},
  ) =>
    axios.request({
      method,
      url: `${base}${path}`,
      data,
      validateStatus: () => true,
      ...extra,
      headers: { ...(role ? { authorization: `Bearer ${TOKENS[role]}` } : {}), ...extra.headers },
    });

  it('refuses missing tokens, wrong roles and bad bodies with clear errors', async () => {
    expect((await call('GET', '/v1/recoveries')).status).toBe(401);
    const forbidden = await call('POST', '/v1/recoveries', 'viewer', { network: 'apinet', procedure: 'ccf-recovery' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.data).toEqual({
      error: { code: 'Forbidden', message: 'role viewer may not do this; it needs operator' },
    });

    const badName = await call('POST', '/v1/recoveries', 'operator', {
      network: 'Not A Name',
      procedure: 'ccf-recovery',
    });
    expect(badName.status).toBe(400);
    expect((badName.data as { error: { message: string } }).error.message).toMatch(/^body\.network: expected a name/);
    const unknown = await call('POST', '/v1/recoveries', 'operator', { network: 'nowhere', procedure: 'ccf-recovery' });
    expect(unknown.status).toBe(400);
    expect((unknown.data as { error: { message: string } }).error.message).toBe(
      'body.network: no network "nowhere"; configured: apinet',
    );
    const badProcedure = await call('POST', '/v1/recoveries', 'operator', { network: 'apinet', procedure: 'reboot' });
    expect(badProcedure.status).toBe(400);
    expect((badProcedure.data as { error: { message: string } }).error.message).toContain('body.procedure');
    const notJson = await call('POST', '/v1/recoveries', 'operator', '{', {
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(400);
  });

  it('starts, lists, shows, approves and reports a recovery; retries and concurrent starts are safe', async () => {
    const body = {
      network: 'apinet',
      procedure: 'ccf-recovery',
      options: { drill: true, waitForApproval: true, pollIntervalMs: 200 },
    };
    const first = await call('POST', '/v1/recoveries', 'operator', body, {
      headers: { 'idempotency-key': 'start-apinet-001' },
    });
    expect(first.status).toBe(201);
    const run = first.data as { id: string; runId: string };
    expect(run.id).toBe('ccf-recovery:apinet');

    const retry = await call('POST', '/v1/recoveries', 'operator', body, {
      headers: { 'idempotency-key': 'start-apinet-001' },
    });
    expect(retry.status).toBe(200);
    expect((retry.data as { runId: string }).runId).toBe(run.runId);
    const concurrent = await call('POST', '/v1/recoveries', 'operator', body, {
      headers: { 'idempotency-key': 'start-apinet-002' },
    });
    expect(concurrent.status).toBe(409);
    expect(concurrent.data).toMatchObject({
      error: { code: 'AlreadyRunning' },
      runningId: run.id,
      runningRunId: run.runId,
    });

    const shown = await waitFor('the run to wait for approval', async () => {
      const res = await call('GET', `/v1/recoveries/${encodeURIComponent(run.id)}`, 'viewer');
      return (res.data as { phase?: string }).phase === 'approval'
        ? (res.data as { awaiting: { what: string; from: string }[] })
        : undefined;
    });
    expect(shown.awaiting).toEqual([
      expect.objectContaining({ what: 'approval to start the recovery', from: 'an operator' }),
    ]);

    const listed = await waitFor('visibility', async () => {
      const res = await call('GET', '/v1/recoveries?network=apinet&procedure=ccf-recovery&status=Running', 'viewer');
      const runs = (res.data as { runs: { runId: string; phase?: string }[] }).runs;
      return runs.some((r) => r.runId === run.runId) ? runs : undefined;
    });
    expect(listed[0]).toMatchObject({ network: 'apinet', procedure: 'ccf-recovery', status: 'RUNNING' });

    expect((await call('POST', `/v1/recoveries/${encodeURIComponent(run.id)}/approve`, 'operator', {})).status).toBe(
      403,
    );
    const approved = await call('POST', `/v1/recoveries/${encodeURIComponent(run.id)}/approve`, 'approver', {
      comment: 'go',
    });
    expect(approved.status).toBe(200);
    const again = await call('POST', `/v1/recoveries/${encodeURIComponent(run.id)}/approve`, 'approver', {});
    expect(again.status).toBe(409);
    expect((again.data as { error: { message: string } }).error.message).toBe('no approval is awaited now');

    await temporal.client.workflow.getHandle(run.id).result();
    const json = await call('GET', `/v1/recoveries/${encodeURIComponent(run.id)}/report`, 'viewer');
    expect(json.data).toMatchObject({
      outcome: 'succeeded',
      operatorActions: [expect.objectContaining({ actor: 'anna', action: 'approved the recovery', detail: 'go' })],
    });
    const md = await call('GET', `/v1/recoveries/${encodeURIComponent(run.id)}/report`, 'viewer', undefined, {
      headers: { accept: 'text/markdown' },
    });
    expect(md.headers['content-type']).toContain('text/markdown');
    expect(md.data).toContain('# ccf-recovery of apinet: succeeded');
    expect(md.data).toContain('| Pick the ledger with the highest last signed seqno | succeeded |');
    const html = await call('GET', `/v1/recoveries/${encodeURIComponent(run.id)}/report`, 'viewer', undefined, {
      headers: { accept: 'text/html' },
    });
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.data).toContain('<h1>ccf-recovery of apinet: <span class="outcome-succeeded">succeeded</span></h1>');
  });

  it('cancels a run under the caller identity', async () => {
    const started = await call('POST', '/v1/recoveries', 'operator', {
      network: 'apinet',
      procedure: 'ccf-recovery',
      options: { waitForApproval: true },
    });
    expect(started.status).toBe(201);
    const { id, runId } = started.data as { id: string; runId: string };
    const cancelled = await call('POST', `/v1/recoveries/${encodeURIComponent(id)}/cancel`, 'operator', {
      reason: 'drill over',
    });
    expect(cancelled.status).toBe(200);
    const handle = temporal.client.workflow.getHandle(id, runId);
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const events = (await handle.fetchHistory()).events ?? [];
    const request = events.find((e) => e.workflowExecutionCancelRequestedEventAttributes);
    expect(request?.workflowExecutionCancelRequestedEventAttributes?.identity).toBe('api:olivia');
  });

  it('manages schedules: create with SKIP overlap, list, pause, resume, trigger, delete', async () => {
    const id = `watch-${Date.now()}`;
    const created = await call('POST', '/v1/schedules', 'operator', {
      id,
      network: 'apinet',
      procedure: 'ccf-health-watch',
      options: { maxChecks: 1, pollIntervalMs: 200 },
      every: '1h',
    });
    expect(created.status).toBe(201);
    const described = await call('GET', `/v1/schedules/${id}`, 'viewer');
    expect(described.data).toMatchObject({ id, paused: false, overlap: 'SKIP' });
    const listed = await waitFor('the schedule in the list', async () => {
      const res = await call('GET', '/v1/schedules', 'viewer');
      return (res.data as { schedules: { id: string }[] }).schedules.some((s) => s.id === id) ? true : undefined;
    });
    expect(listed).toBe(true);
    expect((await call('POST', `/v1/schedules/${id}/pause`, 'operator', {})).status).toBe(200);
    expect(((await call('GET', `/v1/schedules/${id}`, 'viewer')).data as { paused: boolean }).paused).toBe(true);
    expect((await call('POST', `/v1/schedules/${id}/resume`, 'operator', {})).status).toBe(200);
    expect((await call('POST', `/v1/schedules/${id}/trigger`, 'operator', {})).status).toBe(200);
    await waitFor('the triggered run', async () => {
      const res = await call('GET', `/v1/schedules/${id}`, 'viewer');
      return (res.data as { recentRuns: number }).recentRuns > 0 ? true : undefined;
    });
    expect((await call('DELETE', `/v1/schedules/${id}`, 'operator')).status).toBe(200);
    expect((await call('GET', `/v1/schedules/${id}`, 'viewer')).status).toBe(404);
  });

  it('serves its OpenAPI document, metrics, and the codec behind the same auth', async () => {
    const doc = (await call('GET', '/openapi.json')).data as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/recoveries', '/v1/recoveries/{id}/approve', '/v1/schedules', '/codec/decode']),
    );
    const docs = await call('GET', '/docs');
    expect(docs.data).toContain('<code>/v1/recoveries/{id}/approve</code>');
    const metrics = (await call('GET', '/metrics')).data as string;
    expect(metrics).toMatch(/ledger_dr_api_runs_started_total\{procedure="ccf-recovery",network="apinet"\} [1-9]/);

    const plain = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('"hello"').toString('base64'),
    };
    expect((await call('POST', '/codec/encode', undefined, { payloads: [plain] })).status).toBe(401);
    const encoded = await call('POST', '/codec/encode', 'viewer', { payloads: [plain] });
    const sealed = (encoded.data as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads[0]!;
    expect(Buffer.from(sealed.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed.data, 'base64').toString()).not.toContain('hello');
    const decoded = await call('POST', '/codec/decode', 'viewer', { payloads: [sealed] });
    expect(decoded.data).toEqual({ payloads: [plain] });
  });
});
