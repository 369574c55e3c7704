/**
 * `npm run demo`: the whole product on one machine. Starts a Temporal dev server with its UI (runs persist
 * in .data/demo/), the simulators the scenario needs and a worker, runs a recovery, and prints its progress
 * and result with a link to the run in the UI. Ctrl-C stops everything it started; `--once` exits when the
 * run completes (exit code 0 when it succeeded).
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { createDataConverter } from '../shared/codec';
import { createLogger } from '../shared/logger';
import { startDevServer, type DevServer } from '../shared/dev-server';
import { PROJECT_ROOT } from '../shared/temporal-cli';
import { installRuntime } from '../workers/runtime';
import { createLedgerWorker } from '../workers/worker';
import { printProgress, printReport } from './progress';
import { ccfRecoveryScenario } from './scenarios/ccf-recovery';
import type { DemoScenario } from './scenarios/scenario';

interface DemoOptions {
  once: boolean;
  port: number;
  uiPort: number;
  dataDir: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a TCP port (1-65535)');
  return n;
}

function parseOptions(argv: string[]): DemoOptions {
  const program = new Command('npm run demo --')
    .description('Run a ledger-dr recovery against simulators on a local Temporal dev server with its UI')
    .option('--once', 'exit when the recovery completes (exit code 0 on success)', false)
    .option('--port <port>', 'Temporal frontend port', port, 7233)
    .option('--ui-port <port>', 'Temporal UI port', port, 8233)
    .option(
      '--data-dir <dir>',
      'where the demo keeps its Temporal database, configuration and logs',
      path.join(PROJECT_ROOT, '.data', 'demo'),
    )
    .parse(argv);
  const opts = program.opts<{ once: boolean; port: number; uiPort: number; dataDir: string }>();
  return { ...opts, dataDir: path.resolve(opts.dataDir) };
}

async function assertPortFree(p: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', () =>
      reject(
        new Error(
          `port ${p} (${what}) is in use: is another Temporal server or demo running? Choose another with --${what === 'Temporal UI' ? 'ui-port' : 'port'}`,
        ),
      ),
    );
    server.listen(p, '127.0.0.1', () => server.close(() => resolve()));
  });
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv);
  mkdirSync(options.dataDir, { recursive: true });
  await assertPortFree(options.port, 'Temporal frontend');
  await assertPortFree(options.uiPort, 'Temporal UI');

  const cleanups: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      // Reverse order: worker before simulators before the server they all talk to.
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    })());
  const onSignal = () => {
    console.log('\nStopping everything the demo started…');
    void stopAll().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const logger = createLogger({
      name: 'ledger-dr-demo-worker',
      destination: (await import('pino')).default.destination({
        dest: path.join(options.dataDir, 'worker.log'),
        sync: false,
      }),
    });
    installRuntime({ logger, handleSignals: false });

    console.log('Starting the Temporal dev server and UI…');
    const server: DevServer = await startDevServer({
      dbFilename: path.join(options.dataDir, 'temporal.sqlite'),
      port: options.port,
      uiPort: options.uiPort,
    });
    cleanups.push(() => server.env.teardown());
    console.log(`  Temporal:    ${server.address} (CLI from ${server.cli.source})`);
    console.log(`  Temporal UI: ${server.uiUrl}`);

    const scenario = ccfRecoveryScenario as DemoScenario;
    const prepared = await scenario.prepare(options.dataDir);
    cleanups.push(() => prepared.stop());
    for (const line of prepared.describe()) console.log(`  ${line}`);

    const dataConverter = await createDataConverter(prepared.config);
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    cleanups.push(() => nativeConnection.close());
    const taskQueue = 'ledger-dr-demo';
    const worker: Worker = await createLedgerWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      deps: { config: prepared.config },
      dataConverter,
    });
    const workerRun = worker.run();
    cleanups.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
    });
    console.log(`  Worker:      task queue ${taskQueue} (log: ${path.join(options.dataDir, 'worker.log')})`);

    const connection = await Connection.connect({ address: server.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: 'default', dataConverter });

    const handle = await scenario.start(client, taskQueue);
    const runUrl = `${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}/${handle.firstExecutionRunId}/history`;
    console.log(`\n${scenario.title}: ${handle.workflowId}\n  ${runUrl}\n`);

    const outcome = await printProgress(handle, 500);
    let exitCode = 0;
    try {
      const result = await handle.result();
      printReport(scenario.summarise(result));
    } catch (err) {
      exitCode = 1;
      const message = err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
      console.log(`\nThe run failed: ${message}`);
    }
    console.log(`\nRun ${outcome}. Inspect it in the UI: ${runUrl}`);

    if (options.once) {
      await stopAll();
      return exitCode;
    }
    console.log('\nThe dev server, UI, simulators and worker keep running; press Ctrl-C to stop them.');
    await new Promise(() => undefined);
    return exitCode;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
