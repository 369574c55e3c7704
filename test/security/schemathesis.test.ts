/**
 * Schemathesis generates requests from the API's own OpenAPI document (valid and invalid, for every operation)
 * and checks that none gets a server error, for each role's token, against the real dev server.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import Long from 'long';
import { buildApi, resolveApiTokens } from '../../api/server';
import { createCodec, createDataConverter } from '../../shared/codec';
import { ensureSearchAttributes } from '../../shared/temporal';
import { runSchemathesis } from '../helpers/schemathesis';
import { waitFor } from '../helpers/wait';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  TEST_ENCRYPTION,
  uniqueTaskQueue,
  writeConfig,
  type TestTemporal,
} from '../helpers/temporal';

const TOKENS = { viewer: 'st-viewer-token-1', operator: 'st-operator-token-2', approver: 'st-approver-token-3' };

describe('schemathesis against the API', () => {
  let temporal: TestTemporal;
  let app: FastifyInstance;
  let base: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    process.env.LEDGER_DR_ST_VIEWER = TOKENS.viewer;
    process.env.LEDGER_DR_ST_OPERATOR = TOKENS.operator;
    process.env.LEDGER_DR_ST_APPROVER = TOKENS.approver;
    const { config } = writeConfig(scratchDir('schemathesis'), {
      networks: { st: { kind: 'corda', nodes: [{ id: 'n0' }] } },
      api: {
        tokens: [
          { name: 'vera', role: 'viewer', token: { env: 'LEDGER_DR_ST_VIEWER' } },
          { name: 'olivia', role: 'operator', token: { env: 'LEDGER_DR_ST_OPERATOR' } },
          { name: 'anna', role: 'approver', token: { env: 'LEDGER_DR_ST_APPROVER' } },
        ],
      },
    });
    // Its own namespace: generated requests reach only the runs they start, and every such run has a worker
    // (workflows only: a run waits at its first activity, touching nothing, but answers queries and updates).
    const namespace = `schemathesis-${Date.now()}`;
    await temporal.connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) },
    });
    await waitFor('the namespace', async () =>
      (await temporal.connection.workflowService.describeNamespace({ namespace }).catch(() => undefined))
        ? true
        : undefined,
    );
    await ensureSearchAttributes(temporal.connection.operatorService, namespace);
    const taskQueue = uniqueTaskQueue('schemathesis');
    worker = await startTestWorker(temporal, taskQueue, { config }, { role: 'workflows', namespace });
    app = await buildApi({
      connection: temporal.connection,
      namespace,
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
    await temporal?.close();
  });

  it.each(Object.entries(TOKENS))(
    'finds no server error as %s',
    async (_role, token) => {
      const { code, output } = await runSchemathesis([
        `${base}/openapi.json`,
        '--url',
        base,
        '--checks',
        'not_a_server_error',
        '--header',
        `Authorization: Bearer ${token}`,
        '--max-examples',
        '15',
        '--seed',
        '20261124',
        '--no-color',
      ]);
      if (code !== 0) process.stdout.write(output);
      expect(output).toMatch(/operations?/i);
      expect(code).toBe(0);
    },
    300_000,
  );
});
