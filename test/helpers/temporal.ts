/**
 * Connections to the suite's dev server, workers on unique task queues, and helpers to read runs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { createDataConverter } from '../../shared/codec';
import { parseConfig, type LedgerDrConfig } from '../../shared/config';
import { createLedgerWorker, type WorkerRole } from '../../workers/worker';
import type { ActivityDeps } from '../../activities';
import { TEST_DATA_DIR } from './paths';

/** Every test client and worker encrypts, as production does; the key file is written by the global setup. */
export const TEST_ENCRYPTION = {
  activeKey: 'test-key-1',
  keys: [{ id: 'test-key-1', key: { file: path.join(TEST_DATA_DIR, 'codec.key') } }],
};

export function devServerAddress(): string {
  const address = process.env.LEDGER_DR_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('the test dev server is not running: run the tests through jest (npm test)');
  return address;
}

export function workflowBundlePath(): string {
  return process.env.LEDGER_DR_TEST_WORKFLOW_BUNDLE!;
}

export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A scratch folder under .data/test for one test. */
export function scratchDir(name: string): string {
  return mkdtempSync(path.join(TEST_DATA_DIR, `${name}-`));
}

export interface TestTemporal {
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export async function connectTestTemporal(): Promise<TestTemporal> {
  const address = devServerAddress();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({
    connection,
    namespace: 'default',
    dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
  });
  return {
    client,
    connection,
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** An in-process worker for a test, on its own task queue. */
export async function startTestWorker(
  temporal: TestTemporal,
  taskQueue: string,
  deps: ActivityDeps,
  options: { role?: WorkerRole; namespace?: string } = {},
): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const worker = await createLedgerWorker({
    ...(options.role ? { role: options.role } : {}),
    connection: temporal.nativeConnection,
    namespace: options.namespace ?? 'default',
    taskQueue,
    deps,
    workflowBundlePath: workflowBundlePath(),
    dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** Validates a configuration object like the worker would and writes it as YAML for worker processes. */
export function writeConfig(dir: string, config: object): { file: string; config: LedgerDrConfig } {
  const text = stringify({ encryption: TEST_ENCRYPTION, ...config }, { aliasDuplicateObjects: false });
  const file = path.join(dir, 'ledger-dr.yaml');
  writeFileSync(file, text);
  return { file, config: parseConfig(text, file) };
}
