/**
 * Starts one real Temporal dev server (from the resolved Temporal CLI) and bundles the workflows once; test
 * files and the worker processes they spawn connect to that server and load that bundle.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { bundleWorkflowCode } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../shared/codec';
import { startDevServer } from '../shared/dev-server';
import { WORKFLOWS_PATH } from '../workers/worker';
import { TEST_DATA_DIR } from './helpers/paths';

export default async function globalSetup(): Promise<void> {
  mkdirSync(TEST_DATA_DIR, { recursive: true });
  // The payload encryption key of every test client and worker (test/helpers/temporal.ts).
  writeFileSync(path.join(TEST_DATA_DIR, 'codec.key'), randomBytes(32).toString('base64'));
  const server = await startDevServer();
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: quietLogger,
  });
  const bundlePath = path.join(TEST_DATA_DIR, 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  process.env.LEDGER_DR_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.LEDGER_DR_TEST_WORKFLOW_BUNDLE = bundlePath;
  process.env.LEDGER_DR_TEST_TEMPORAL_CLI =
    server.cli.executable.type === 'existing-path' ? server.cli.executable.path : '';
  (globalThis as Record<string, unknown>).__ledgerDrDevServer = server;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
