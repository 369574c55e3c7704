/**
 * Starts a Temporal dev server (with its UI when asked) from the resolved Temporal CLI. The demo and the
 * tests both start their server here, so they run the same binary with the same search attributes.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { LEDGER_DR_SEARCH_ATTRIBUTES } from '../contracts/search-attributes';
import { resolveTemporalCli, TemporalCliNotFoundError, type TemporalCliResolution } from './temporal-cli';

export interface DevServerOptions {
  /** SQLite file: runs survive a restart of the server. In-memory when absent. */
  dbFilename?: string;
  port?: number;
  /** Serve the Temporal UI on this port. */
  uiPort?: number;
  ip?: string;
  extraArgs?: string[];
  resolution?: TemporalCliResolution;
}

export interface DevServer {
  env: TestWorkflowEnvironment;
  address: string;
  uiUrl?: string;
  cli: TemporalCliResolution;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cli = options.resolution ?? (await resolveTemporalCli());
  let env: TestWorkflowEnvironment;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: cli.executable,
        dbFilename: options.dbFilename,
        ip: options.ip ?? '127.0.0.1',
        port: options.port,
        ui: options.uiPort !== undefined,
        uiPort: options.uiPort,
        searchAttributes: LEDGER_DR_SEARCH_ATTRIBUTES,
        extraArgs: options.extraArgs,
        log: { format: 'json', level: 'warn' },
      },
    });
  } catch (err) {
    if (cli.executable.type === 'cached-download') {
      throw new TemporalCliNotFoundError([
        ...cli.tried,
        `${cli.source}: failed (${(err as Error).message.split('\n')[0]})`,
      ]);
    }
    throw err;
  }
  const address = env.address;
  const uiUrl = options.uiPort !== undefined ? `http://${options.ip ?? '127.0.0.1'}:${options.uiPort}` : undefined;
  return { env, address, uiUrl, cli };
}
