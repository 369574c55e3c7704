/**
 * Hostile input, as properties (fast-check): the configuration loader answers anything with a ConfigError that
 * names the field; no value can add words to a command template; the API never answers a 500 or a stack trace;
 * every workflow rejects bad input in its first task, non-retryably, naming the field, before any activity.
 */
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import axios from 'axios';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { buildApi, resolveApiTokens } from '../../api/server';
import { renderCommand, shellQuote } from '../../shared/command-template';
import { createCodec, createDataConverter } from '../../shared/codec';
import { ConfigError, parseConfig } from '../../shared/config';
import { PROCEDURES } from '../../contracts/procedures';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  TEST_ENCRYPTION,
  uniqueTaskQueue,
  writeConfig,
  type TestTemporal,
} from '../helpers/temporal';

const STACK = /\n\s+at .+:\d+:\d+/;
/** Strings built to hurt: shell metacharacters, traversal, control characters, huge ones. */
const nasty = fc.oneof(
  fc.string(),
  fc.constantFrom(
    '../../etc/passwd',
    '$(touch /tmp/pwned)',
    '`id`',
    "a'b",
    'a"b',
    ';rm -rf /',
    '\n',
    '${HOME}',
    '*',
    '-rf',
  ),
  fc.string({ unit: fc.constantFrom(...'$`\'"\\;|&<>(){}*?[]~!#\n\t '.split('')), maxLength: 40 }),
  fc.string({ minLength: 5000, maxLength: 20000 }),
);

describe('configuration loader', () => {
  it('answers any document with the configuration or a ConfigError, never another error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => stringify(v)),
        ),
        (text) => {
          try {
            parseConfig(text, 'hostile.yaml');
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            expect((err as Error).message).toMatch(/^hostile\.yaml: invalid configuration\n {2}- /);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses an alias bomb with a ConfigError', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(',')}]`,
      );
    expect(() => parseConfig(bomb.join('\n'), 'bomb.yaml')).toThrow(ConfigError);
  });

  it('names the field for any hostile network or node name', () => {
    fc.assert(
      fc.property(nasty, (name) => {
        const text = stringify({ networks: { [name]: { kind: 'corda', nodes: [{ id: 'n0' }] } } });
        const other = stringify({ networks: { ok: { kind: 'corda', nodes: [{ id: name }] } } });
        for (const [doc, field] of [
          [text, /networks(\.|\[)/],
          [other, /networks\.ok\.nodes\[0\]\.id: /],
        ] as const) {
          try {
            parseConfig(doc, 'c.yaml');
            // Only names that are plain lowercase words get through.
            expect(name).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            expect((err as Error).message).toMatch(field);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('command templates', () => {
  it('pass any value to the shell as exactly one word', () => {
    fc.assert(
      fc.property(
        nasty.filter((v) => !v.includes('\0') && v.length < 4000),
        (value) => {
          const command = renderCommand("printf '%s|' {{value}}", { value });
          const out = execFileSync('sh', ['-c', command], { encoding: 'utf8' });
          expect(out).toBe(`${value}|`);
          expect(shellQuote(value).startsWith("'")).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('API and workflows under hostile input', () => {
  let temporal: TestTemporal;
  let app: FastifyInstance;
  let base: string;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    process.env.LEDGER_DR_HOSTILE_OPERATOR = 'hostile-operator-token';
    const { config } = writeConfig(scratchDir('hostile'), {
      networks: { h: { kind: 'corda', nodes: [{ id: 'n0' }] } },
      api: { tokens: [{ name: 'olivia', role: 'operator', token: { env: 'LEDGER_DR_HOSTILE_OPERATOR' } }] },
    });
    taskQueue = uniqueTaskQueue('hostile');
    // Workflows only: an input that got past the checks would wait for an activity and fail the property.
    worker = await startTestWorker(temporal, taskQueue, { config }, { role: 'workflows' });
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
    await temporal?.close();
  });

  it('never answers a 500 or a stack trace to any start request', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ network: nasty, procedure: fc.oneof(nasty, fc.constantFrom('ccf-recovery', 'corda-recovery')) }),
          fc.record({
            network: fc.constant('no-such-net'),
            procedure: fc.constant('corda-recovery'),
            options: fc.jsonValue(),
          }),
        ),
        async (body) => {
          const res = await axios.post(`${base}/v1/recoveries`, JSON.stringify(body), {
            headers: { authorization: 'Bearer hostile-operator-token', 'content-type': 'application/json' },
            validateStatus: () => true,
            responseType: 'text',
          });
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(String(res.data)).not.toMatch(STACK);
        },
      ),
      { numRuns: 150 },
    );
  });

  const procedures = Object.values(PROCEDURES)
    .filter((p) => p.workflowType !== 'ccfHealthWatch')
    .map((p) => p.workflowType);

  it.each(procedures)('%s rejects hostile input in its first task, naming the field', async (workflowType) => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ network: nasty.filter((n) => !/^[a-z0-9][a-z0-9-]{0,62}$/.test(n)) }),
          fc.record({ network: fc.constant('h'), [`x${Math.random().toString(36).slice(2, 6)}`]: fc.jsonValue() }),
          // A known field (or, where the procedure has none by that name, an unknown one) with a hostile value.
          fc.record({
            network: fc.constant('h'),
            pollIntervalMs: fc.oneof(nasty, fc.constantFrom(-1, 0, 1e15, Number.NaN), fc.jsonValue()),
          }),
        ),
        async (input) => {
          const handle = await temporal.client.workflow.start(workflowType, {
            taskQueue,
            workflowId: `hostile-${workflowType}-${Math.random().toString(36).slice(2)}`,
            args: [input],
          });
          const err = await handle.result().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(WorkflowFailedError);
          const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
          expect(cause.nonRetryable).toBe(true);
          expect(cause.message).toMatch(/^input(\.[A-Za-z0-9_]+)?: /);
          expect(cause.message).not.toMatch(STACK);
          const events = (await handle.fetchHistory()).events ?? [];
          expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
          expect(events.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
        },
      ),
      { numRuns: 8 },
    );
  });
});
