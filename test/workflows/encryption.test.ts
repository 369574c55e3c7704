/**
 * What Temporal stores is sealed: a run's raw history, read straight from the server without the codec,
 * holds none of the secret strings planted in it, while a client with the codec reads them back.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { AesGcmCodec, createCodec } from '../../shared/codec';
import { startProcedure } from '../../shared/start-procedure';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import { reportQuery, statusQuery } from '../../contracts/status';
import { createCcfTestNetwork } from '../helpers/ccf';
import { waitFor } from '../helpers/wait';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

describe('payload encryption', () => {
  let temporal: TestTemporal;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
  });
  afterAll(async () => {
    await temporal?.close();
  });

  it('keeps planted secrets out of the raw history, and the codec reads them back', async () => {
    const sim = new CcfSimulator();
    await sim.start();
    const taskQueue = uniqueTaskQueue('sealed');
    try {
      const net = await createCcfTestNetwork(sim, { name: 'sealed', nodes: [{ id: 'n0', lastSignedSeqno: 10 }] });
      const worker = await startTestWorker(temporal, taskQueue, { config: net.config });
      try {
        const handle = await startProcedure(temporal.client, {
          procedure: 'ccfRecovery',
          network: 'sealed',
          taskQueue,
          input: { waitForApproval: true, pollIntervalMs: 200 },
        });
        await waitFor('the approval wait', async () =>
          (await handle.query(statusQuery)).awaiting.length ? true : undefined,
        );
        const secret = `planted-secret-${randomBytes(8).toString('hex')}`;
        const actor = `operator-${randomBytes(6).toString('hex')}`;
        await handle.executeUpdate('approve', { args: [{ actor, comment: secret }] });
        const report = await handle.query(reportQuery);
        expect(report.operatorActions).toContainEqual(expect.objectContaining({ actor, detail: secret }));
        await handle.terminate('test over');

        const raw = new Client({ connection: temporal.connection, namespace: 'default' });
        const history = await raw.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
        const bytes = JSON.stringify(history);
        for (const planted of [secret, actor]) {
          expect(bytes).not.toContain(planted);
          expect(bytes).not.toContain(Buffer.from(planted).toString('base64').slice(0, 16));
        }
        // The secret did reach history: an update-accepted event carries it, sealed.
        const update = history.events?.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
        const payload =
          update?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0];
        expect(Buffer.from(payload!.metadata!.encoding!).toString()).toBe('binary/encrypted');
        const described = await handle.describe();
        expect(JSON.stringify(described.searchAttributes)).not.toContain(secret);
      } finally {
        await worker.stop();
      }
    } finally {
      await sim.stop();
    }
  });
});

describe('AES-GCM codec', () => {
  const payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"share":"c2VjcmV0"}') };

  it('rotates keys: a payload sealed with the old key still opens once a new key is active', async () => {
    const oldKey = randomBytes(32);
    const sealed = await new AesGcmCodec(new Map([['2025', oldKey]]), '2025').encode([payload]);
    const rotated = new AesGcmCodec(
      new Map([
        ['2026', randomBytes(32)],
        ['2025', oldKey],
      ]),
      '2026',
    );
    const [opened] = await rotated.decode(sealed);
    expect(Buffer.from(opened!.data!).toString()).toBe('{"share":"c2VjcmV0"}');
    const [resealed] = await rotated.encode([payload]);
    expect(Buffer.from(resealed!.metadata!['encryption-key-id']!).toString()).toBe('2026');
  });

  it('refuses unknown keys and tampered payloads', async () => {
    const codec = new AesGcmCodec(new Map([['a', randomBytes(32)]]), 'a');
    const [sealed] = await codec.encode([payload]);
    await expect(new AesGcmCodec(new Map([['b', randomBytes(32)]]), 'b').decode([sealed!])).rejects.toThrow(
      'payload sealed with key "a", which is not in encryption.keys',
    );
    const tampered = { ...sealed!, data: Buffer.from(sealed!.data!).fill(1, 20, 21) };
    await expect(codec.decode([tampered])).rejects.toThrow();
  });

  it('refuses a key that is not 32 bytes, naming the field', async () => {
    process.env.LEDGER_DR_SHORT_KEY = Buffer.alloc(16).toString('base64');
    await expect(
      createCodec({ activeKey: 'k', keys: [{ id: 'k', key: { env: 'LEDGER_DR_SHORT_KEY' } }] }),
    ).rejects.toThrow('encryption.keys[0].key: expected 32 bytes, base64-encoded');
  });
});
