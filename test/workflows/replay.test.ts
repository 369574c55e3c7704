/**
 * Replay tests: a completed run's history must replay against the current workflow code. They catch
 * changes that would break runs in flight when a new worker version is deployed mid-recovery.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { createDataConverter } from '../../shared/codec';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { networkPreflight } from '../../workflows';
import {
  connectTestTemporal,
  devServerAddress,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  TEST_ENCRYPTION,
  workflowBundlePath,
  writeConfig,
  type TestTemporal,
} from '../helpers/temporal';

const HISTORIES_DIR = path.join(__dirname, '..', 'replay-histories');

/** Histories of test runs are encrypted with the suite's key. */
const converter = () => createDataConverter({ encryption: TEST_ENCRYPTION });

describe('workflow replay', () => {
  let temporal: TestTemporal;
  let history: unknown;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    const taskQueue = uniqueTaskQueue('replay');
    const { config } = writeConfig(scratchDir('replay'), {
      networks: {
        replaynet: {
          kind: 'corda',
          nodes: [
            { id: 'n0', commands: { status: 'true' } },
            { id: 'n1', commands: { status: 'exit 2' } },
          ],
        },
      },
    });
    const worker = await startTestWorker(temporal, taskQueue, { config });
    try {
      const handle = await temporal.client.workflow.start(networkPreflight, {
        taskQueue,
        workflowId: uniqueTaskQueue('replay-run'),
        args: [{ network: 'replaynet' }],
      });
      await handle.result();
      history = await handle.fetchHistory();
      if (process.env.RECORD_REPLAY_HISTORIES === '1') {
        // The Temporal CLI writes the standard JSON history format other Temporal tools read.
        const json = execFileSync(process.env.LEDGER_DR_TEST_TEMPORAL_CLI!, [
          'workflow',
          'show',
          '--output',
          'json',
          '--address',
          devServerAddress(),
          '--workflow-id',
          handle.workflowId,
        ]);
        writeFileSync(path.join(HISTORIES_DIR, 'network-preflight.json'), json);
      }
    } finally {
      await worker.stop();
    }
  });

  afterAll(async () => {
    await temporal?.close();
  });

  it('replays the history of a run that just completed', async () => {
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: workflowBundlePath() }, dataConverter: await converter() },
        history,
      ),
    ).resolves.toBeUndefined();
  });

  it.each(readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')))(
    'replays the recorded history %s (runs of earlier versions still replay)',
    async (file) => {
      const recorded = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: { codePath: workflowBundlePath() }, dataConverter: await converter() },
          recorded,
        ),
      ).resolves.toBeUndefined();
    },
  );

  it('catches a non-deterministic change to the workflow', async () => {
    await expect(
      Worker.runReplayHistory(
        { workflowsPath: require.resolve('../fixtures/reordered-preflight'), dataConverter: await converter() },
        history,
      ),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
