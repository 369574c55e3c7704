import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { networkPreflight } from '../../workflows';
import { startHttpRecorder, type HttpRecorder } from '../helpers/http-recorder';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  writeConfig,
  type TestTemporal,
} from '../helpers/temporal';

describe('network-preflight on a real Temporal server', () => {
  let temporal: TestTemporal;
  let webhook: HttpRecorder;
  let node: HttpRecorder;
  const taskQueue = uniqueTaskQueue('preflight');
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    webhook = await startHttpRecorder();
    node = await startHttpRecorder();
    const { config } = writeConfig(scratchDir('preflight'), {
      alerts: { webhooks: [{ name: 'ops', url: webhook.url }] },
      networks: {
        alpha: {
          kind: 'corda',
          nodes: [
            { id: 'n0', url: node.url, commands: { status: 'echo running {{node}}' } },
            { id: 'n1', commands: { status: 'echo stopped >&2; exit 3' } },
            { id: 'n2', url: 'http://127.0.0.1:1/' },
          ],
        },
      },
    });
    ({ stop: stopWorker } = await startTestWorker(temporal, taskQueue, { config }));
  });

  afterAll(async () => {
    await stopWorker?.();
    await webhook?.close();
    await node?.close();
    await temporal?.close();
  });

  it('checks every node, reports the unhealthy ones and alerts once', async () => {
    const result = await temporal.client.workflow.execute(networkPreflight, {
      taskQueue,
      workflowId: uniqueTaskQueue('preflight-alpha'),
      args: [{ network: 'alpha' }],
    });
    const byNode = Object.fromEntries(result.nodes.map((n) => [n.node, n]));
    expect(byNode.n0?.healthy).toBe(true);
    expect(byNode.n0?.status?.stdoutTail).toBe('running n0\n');
    expect(byNode.n0?.endpoint?.httpStatus).toBe(200);
    expect(byNode.n1?.healthy).toBe(false);
    expect(byNode.n1?.problems).toEqual(['status command exited 3 (local shell)']);
    expect(byNode.n1?.status?.stderrTail).toBe('stopped\n');
    expect(byNode.n2?.healthy).toBe(false);
    expect(byNode.n2?.problems[0]).toMatch(/unreachable: ECONNREFUSED/);

    expect(result.alerted).toEqual(['ops']);
    expect(webhook.requests).toHaveLength(1);
    const alert = JSON.parse(webhook.requests[0]!.body) as { summary: string; details: string[] };
    expect(alert.summary).toBe('2 of 3 nodes of alpha failed preflight');
    expect(alert.details).toHaveLength(2);
    expect(webhook.requests[0]!.headers['idempotency-key']).toContain('/preflight/ops');

    expect(result.report.outcome).toBe('succeeded');
    expect(result.report.steps.map((s) => [s.name, s.outcome])).toEqual([
      ['read-plan', 'succeeded'],
      ['check-nodes', 'succeeded'],
      ['alert', 'succeeded'],
    ]);
  });

  it.each([
    [{ network: 'Not A Name' }, 'input.network: expected the name of a configured network'],
    [{ network: 'alpha', force: true }, 'input.force: unknown field'],
    [{ network: 'nowhere' }, 'input.network: no network named "nowhere" in the configuration; configured: alpha'],
    ['alpha', 'input: expected an object'],
  ])('fails at once, without retrying, on bad input %j', async (input, message) => {
    const handle = await temporal.client.workflow.start(networkPreflight, {
      taskQueue,
      workflowId: uniqueTaskQueue('preflight-bad'),
      args: [input as never],
    });
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect(cause!.message).toContain(message);
    // A bad input is refused in the first attempt of anything: no activity or workflow task was retried.
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 1);
    expect(Math.max(...attempts)).toBe(1);
    expect((history.events ?? []).some((e) => e.workflowTaskFailedEventAttributes)).toBe(false);
  });
});
