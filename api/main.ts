/**
 * The API process: `npm run api`.
 *
 * Environment: LEDGER_DR_CONFIG, the standard TEMPORAL_* connection settings, LEDGER_DR_TASK_QUEUE,
 * LEDGER_DR_API_ADDRESS (default 127.0.0.1:7780), LEDGER_DR_UI_URL (for links to runs), LOG_LEVEL.
 */
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { CodecError } from '../shared/codec';
import { configPath, ConfigError, loadConfig } from '../shared/config';
import { SecretUnavailableError } from '../shared/secrets';
import { temporalSettings } from '../shared/temporal';
import { buildApiForConfig } from './server';

async function main(): Promise<void> {
  const config = loadConfig(configPath());
  const settings = temporalSettings();
  // envconfig's options suit both the native (worker) and the gRPC-js (client) connection.
  const connection = await Connection.connect(settings.connection as ConnectionOptions);
  const [host, port] = splitAddress(process.env.LEDGER_DR_API_ADDRESS ?? '127.0.0.1:7780');
  const app = await buildApiForConfig({
    connection,
    namespace: settings.namespace,
    config,
    uiUrl: process.env.LEDGER_DR_UI_URL,
    logger: true,
  });

  if (config.api.tokens.length === 0) app.log.warn('no api.tokens configured: every request will be refused (401)');
  await app.listen({ host, port });
  const stop = () =>
    void app
      .close()
      .then(() => connection.close())
      .then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i < 0 || !Number.isInteger(port))
    throw new ConfigError('LEDGER_DR_API_ADDRESS', ['expected host:port, such as 127.0.0.1:7780']);
  return [address.slice(0, i), port];
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof CodecError || err instanceof SecretUnavailableError;
  process.stderr.write(`${known ? '' : 'ledger-dr api failed: '}${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
