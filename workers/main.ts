/**
 * The worker process: `npm run worker`, or `node dist/workers/main.js` in the container image.
 *
 * Environment:
 *   LEDGER_DR_CONFIG            configuration file (default ./ledger-dr.yaml)
 *   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*   where Temporal is
 *   LEDGER_DR_TASK_QUEUE        overrides temporal.taskQueue from the configuration
 *   LEDGER_DR_METRICS_ADDRESS   Prometheus endpoint (default 127.0.0.1:9464; "off" disables it)
 *   LEDGER_DR_WORKER_ROLE       all (default), workflows or activities: see createLedgerWorker
 *   LOG_LEVEL                   pino level (default info)
 */
import { NativeConnection } from '@temporalio/worker';
import { CodecError, createDataConverter } from '../shared/codec';
import { configPath, ConfigError, loadConfig } from '../shared/config';
import { SecretUnavailableError } from '../shared/secrets';
import { createLogger } from '../shared/logger';
import { ensureSearchAttributes, taskQueue, temporalSettings } from '../shared/temporal';
import { installRuntime } from './runtime';
import { createLedgerWorker, WORKER_ROLES, type WorkerRole } from './worker';

async function main(): Promise<void> {
  const logger = createLogger({ name: 'ledger-dr-worker' });
  const file = configPath();
  const config = loadConfig(file);
  const metrics = process.env.LEDGER_DR_METRICS_ADDRESS ?? '127.0.0.1:9464';
  installRuntime({ logger, metricsAddress: metrics === 'off' ? undefined : metrics, handleSignals: true });

  const settings = temporalSettings();
  const connection = await NativeConnection.connect(settings.connection);
  const attributes = await ensureSearchAttributes(connection.operatorService, settings.namespace);
  if (attributes.added.length > 0) logger.info({ added: attributes.added }, 'registered search attributes');
  if (attributes.problem) logger.warn(attributes.problem);
  const role = (process.env.LEDGER_DR_WORKER_ROLE ?? 'all') as WorkerRole;
  if (!WORKER_ROLES.includes(role)) {
    throw new ConfigError('environment', [
      `LEDGER_DR_WORKER_ROLE: "${role}" is not a role; use ${WORKER_ROLES.join(', ')}`,
    ]);
  }
  const queue = taskQueue(config.temporal.taskQueue);
  if (!config.encryption) logger.warn('no encryption configured: workflow inputs and results are stored in plaintext');
  const worker = await createLedgerWorker({
    dataConverter: await createDataConverter(config),
    connection,
    namespace: settings.namespace,
    taskQueue: queue,
    deps: { config },
    workflowBundlePath: process.env.LEDGER_DR_WORKFLOW_BUNDLE,
    role,
  });
  logger.info(
    {
      address: settings.connection.address,
      namespace: settings.namespace,
      taskQueue: queue,
      role,
      config: file,
      networks: Object.keys(config.networks),
      metrics: metrics === 'off' ? undefined : `http://${metrics}/metrics`,
    },
    'worker running',
  );
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  // Operators get the message, not a stack trace, for the errors they can fix.
  if (err instanceof ConfigError || err instanceof CodecError || err instanceof SecretUnavailableError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`ledger-dr worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
