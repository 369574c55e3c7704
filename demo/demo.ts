/**
 * `npm run demo`: the whole product on one machine. Starts a Temporal dev server with its UI (runs persist
 * in .data/demo/), the simulators the scenario needs and a worker, runs a recovery, and prints its progress
 * and result with a link to the run in the UI. Ctrl-C stops everything it started; `--once` exits when the
 * run completes (exit code 0 when it succeeded).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { buildApiForConfig } from '../api/server';
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
  apiPort: number;
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
    .option('--api-port <port>', 'ledger-dr API port', port, 7780)
    .option(
      '--data-dir <dir>',
      'where the demo keeps its Temporal database, configuration and logs',
      path.join(PROJECT_ROOT, '.data', 'demo'),
    )
    .parse(argv);
  const opts = program.opts<{ once: boolean; port: number; uiPort: number; apiPort: number; dataDir: string }>();
  return { ...opts, dataDir: path.resolve(opts.dataDir) };
}

async function assertPortFree(p: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', () =>
      reject(
        new Error(
          `port ${p} (${what}) is in use: is another Temporal server or demo running? Choose another with --${{ 'Temporal UI': 'ui-port', 'ledger-dr API': 'api-port' }[what] ?? 'port'}`,
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
  await assertPortFree(options.apiPort, 'ledger-dr API');
  const tokens = demoTokens(options.dataDir);
  const apiUrl = `http://127.0.0.1:${options.apiPort}`;

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
      // The UI decrypts payloads through the API's codec, authenticated by the UI's own viewer token.
      extraArgs: ['--ui-codec-endpoint', `${apiUrl}/codec/t/${tokens.ui.value}`],
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

    const config = {
      ...prepared.config,
      api: {
        tokens: Object.values(tokens).map((t) => ({ name: t.name, role: t.role, token: { file: t.file } })),
        corsOrigins: [server.uiUrl!, server.uiUrl!.replace('127.0.0.1', 'localhost')],
      },
    };
    const api = await buildApiForConfig({ connection, namespace: 'default', config, taskQueue, uiUrl: server.uiUrl });

    await api.listen({ host: '127.0.0.1', port: options.apiPort });
    cleanups.push(() => api.close());
    console.log(`  API:         ${apiUrl} (docs ${apiUrl}/docs; tokens in ${path.dirname(tokens.operator.file)})`);

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
    const again = options.once ? undefined : await prepared.resetForNextRun?.();
    if (again) {
      console.log(`\n${again}. Start another recovery through the API:`);
      console.log(
        `  curl -X POST ${apiUrl}/v1/recoveries -H "Authorization: Bearer $(cat ${tokens.operator.file})" \\\n` +
          `    -H 'content-type: application/json' -d '{"network":"demo","procedure":"ccf-recovery","options":{"drill":true}}'`,
      );
      console.log('or with the CLI:');
      console.log(
        `  LEDGER_DR_API_TOKEN=$(cat ${tokens.operator.file}) npm run -s cli -- --api ${apiUrl} start ccf-recovery demo -o drill=true`,
      );
      console.log(
        `  LEDGER_DR_API_TOKEN=$(cat ${tokens.operator.file}) npm run -s cli -- --api ${apiUrl} watch ccf-recovery:demo`,
      );
    }

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

/** The demo's API tokens, one per role plus one for the UI's codec calls, kept in the data folder. */
function demoTokens(dataDir: string) {
  const dir = path.join(dataDir, 'tokens');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const make = (name: string, role: 'viewer' | 'operator' | 'approver') => {
    const file = path.join(dir, name);
    if (!existsSync(file)) writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
    return { name: `demo-${name}`, role, file, value: readFileSync(file, 'utf8').trim() };
  };
  return {
    operator: make('operator', 'operator'),
    approver: make('approver', 'approver'),
    ui: make('temporal-ui', 'viewer'),
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
