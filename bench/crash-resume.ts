/**
 * Row 5: crash resume. A run's worker process is SIGKILLed in the middle of an activity (an alert delivery the
 * receiver holds); once Temporal has noticed (the activity's heartbeat timeout), a new compiled worker process
 * is started, and the time from its start to the interrupted step running again (the delivery arriving at the
 * receiver) is measured.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startProcedure } from '../shared/start-procedure';
import { startHttpRecorder } from '../test/helpers/http-recorder';
import { uniqueTaskQueue, writeConfig } from '../test/helpers/temporal';
import { median, sleep, startBenchWorker, type BenchContext, type BenchRow } from './harness';

const REPEATS = 3;

export async function crashResume(context: BenchContext): Promise<BenchRow[]> {
  const resumes: number[] = [];
  const ready: number[] = [];
  const detections: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    // The first delivery is held long enough to kill the worker while it waits.
    const webhook = await startHttpRecorder({ delayMs: (n) => (n === 1 ? 60_000 : 0) });
    const network = `bench-crash-${r}`;
    const dir = path.join(context.dir, network);
    mkdirSync(dir, { recursive: true });
    const { file } = writeConfig(dir, {
      alerts: { webhooks: [{ name: 'ops', url: webhook.url }] },
      networks: { [network]: { kind: 'corda', nodes: [{ id: 'n0', commands: { status: 'exit 1' } }] } },
    });
    const taskQueue = uniqueTaskQueue('bench-crash');
    let worker = await startBenchWorker(context, file, taskQueue);
    try {
      const handle = await startProcedure(context.client, {
        procedure: 'networkPreflight',
        network,
        taskQueue,
        input: {},
      });
      await webhook.waitForRequests(1);
      await worker.kill('SIGKILL');
      const killedAt = Date.now();
      // Wait until Temporal has given the delivery up as lost and its next attempt is due.
      for (;;) {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const retry = pending.find((a) => (a.attempt ?? 1) >= 2);
        const due = Number(retry?.scheduledTime?.seconds ?? retry?.nextAttemptScheduleTime?.seconds ?? Infinity) * 1000;
        if (retry && due <= Date.now()) break;
        await sleep(100);
      }
      detections.push(Date.now() - killedAt);
      const spawnedAt = Date.now();
      worker = await startBenchWorker(context, file, taskQueue);
      ready.push(Date.now() - spawnedAt);
      await webhook.waitForRequests(2);
      resumes.push(webhook.requests[1]!.at - spawnedAt);
      await handle.result();
    } finally {
      await worker.kill('SIGTERM');
      await webhook.close();
    }
  }
  const resume = median(resumes);
  context.log(
    `  new worker → interrupted step running again: ${resumes.join(', ')} ms (worker ready after ${ready.join(', ')} ms; the dead worker noticed after ${detections.join(', ')} ms)`,
  );
  return [
    {
      row: '5 crash resume',
      metric: 'new worker process → interrupted step again',
      value: resume / 1000,
      unit: 's',
      target: '< 5 s',
      met: resume < 5000,
      notes: `median of ${REPEATS}; a dead worker is noticed after the heartbeat timeout (median ${(median(detections) / 1000).toFixed(1)} s)`,
    },
  ];
}
