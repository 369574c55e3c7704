/**
 * The pattern every workflow's crash test follows: an activity is mid-flight when its worker process is
 * SIGKILLed; another worker process finishes the run; the side effect happened once per idempotency key.
 */
import { networkPreflight } from '../../workflows';
import { startHttpRecorder } from '../helpers/http-recorder';
import { startWorkerProcess } from '../helpers/processes';
import { connectTestTemporal, scratchDir, uniqueTaskQueue, writeConfig, type TestTemporal } from '../helpers/temporal';

const runs = Number(process.env.CRASH_TEST_RUNS ?? 1);

describe('worker crash mid-activity', () => {
  let temporal: TestTemporal;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
  });
  afterAll(async () => {
    await temporal?.close();
  });

  it.each(Array.from({ length: runs }, (_, i) => i + 1))(
    'a second worker process completes the run and the alert is applied exactly once (run %i)',
    async () => {
      // The receiver holds the first delivery long enough for us to kill the worker while it waits.
      const webhook = await startHttpRecorder({ delayMs: (n) => (n === 1 ? 20_000 : 0) });
      const taskQueue = uniqueTaskQueue('crash');
      const { file } = writeConfig(scratchDir('crash'), {
        alerts: { webhooks: [{ name: 'ops', url: webhook.url }] },
        networks: { crashnet: { kind: 'corda', nodes: [{ id: 'n0', commands: { status: 'exit 1' } }] } },
      });
      const first = await startWorkerProcess({ configFile: file, taskQueue });
      let second: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
      try {
        const handle = await temporal.client.workflow.start(networkPreflight, {
          taskQueue,
          workflowId: uniqueTaskQueue('crash-run'),
          args: [{ network: 'crashnet' }],
        });
        await webhook.waitForRequests(1);
        expect(await first.kill('SIGKILL')).toBe('SIGKILL');

        second = await startWorkerProcess({ configFile: file, taskQueue });
        const result = await handle.result();

        expect(result.alerted).toEqual(['ops']);
        expect(result.report.outcome).toBe('succeeded');
        // The kill really interrupted the delivery: it was attempted again, with the same key...
        expect(webhook.requests.length).toBeGreaterThanOrEqual(2);
        const keys = new Set(webhook.requests.map((r) => r.headers['idempotency-key']));
        expect(keys.size).toBe(1);
        // ...so the receiver applied it once.
        expect(webhook.applied.size).toBe(1);

        const history = await handle.fetchHistory();
        const alertAttempts = (history.events ?? [])
          .filter((e) => e.activityTaskStartedEventAttributes)
          .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
        expect(Math.max(...alertAttempts)).toBeGreaterThanOrEqual(2);
      } finally {
        await first.kill('SIGKILL');
        await second?.kill('SIGTERM');
        await webhook.close();
      }
    },
    90_000,
  );
});
