/**
 * The chaos runner: `npm run chaos -- --runs 20 --seed 7`.
 *
 * For each procedure it runs `--runs` recoveries against the simulators (and a real PostgreSQL) on its own
 * Temporal dev server (a SQLite file, so the server itself can be SIGKILLed and started again once per
 * procedure), while the worker process is SIGKILLed at seeded random moments and started again. After each
 * run it checks the procedure's invariants: the run completed with the right outcome, no node or service was
 * started twice, every backup, dump and archive is present and matches its manifest, nothing the operator
 * owned was deleted. It prints a table and exits 1 if any invariant was broken.
 */
import './environment';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { createDataConverter, FAILURE_CONVERTER_PATH } from '../../shared/codec';
import { WORKFLOWS_PATH } from '../../workers/worker';
import { TEST_DATA_DIR } from '../helpers/paths';
import { TEST_ENCRYPTION } from '../helpers/temporal';
import { renderTable, runChaos, type ChaosScenario } from './harness';
import {
  cantonBackupScenario,
  cantonLsuRecoveryScenario,
  cantonNetworkRecoveryScenario,
  cantonReonboardScenario,
  cantonRestoreScenario,
} from './scenarios/canton';
import { ccfHealthWatchScenario, ccfRecoveryScenario } from './scenarios/ccf';
import { cordaReconciliationScenario, cordaRecoveryScenario } from './scenarios/corda';
import { networkPreflightScenario } from './scenarios/preflight';
import { PersistentDevServer } from './temporal-server';

const SCENARIOS: Record<string, () => ChaosScenario> = {
  'ccf-recovery': ccfRecoveryScenario,
  'ccf-health-watch': ccfHealthWatchScenario,
  'canton-backup': cantonBackupScenario,
  'canton-restore': cantonRestoreScenario,
  'canton-reonboard': cantonReonboardScenario,
  'canton-network-recovery': cantonNetworkRecoveryScenario,
  'canton-lsu-recovery': cantonLsuRecoveryScenario,
  'corda-recovery': cordaRecoveryScenario,
  'corda-reconciliation': cordaReconciliationScenario,
  'network-preflight': networkPreflightScenario,
};

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function seedOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError('expected an integer 0-4294967295');
  return n;
}

function procedureList(value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !SCENARIOS[n]);
  if (unknown.length) {
    throw new InvalidArgumentError(
      `unknown procedure ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`,
    );
  }
  return names;
}

async function main(): Promise<number> {
  const options = new Command('npm run chaos --')
    .description('Run every procedure many times against the simulators while SIGKILLing its worker and Temporal')
    .option('--runs <n>', 'runs per procedure', positive, 20)
    .option('--seed <n>', 'seed of the kill schedule and inputs (random when absent)', seedOption)
    .option('--procedures <list>', 'comma-separated procedures (all when absent)', procedureList)
    .option('--no-server-kill', 'do not kill the Temporal server')
    .option('--json <file>', 'also write the figures as JSON')
    .parse(process.argv)
    .opts<{ runs: number; seed?: number; procedures?: string[]; serverKill: boolean; json?: string }>();
  const seed = options.seed ?? randomInt(0, 0xffffffff);
  const procedures = options.procedures ?? Object.keys(SCENARIOS);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`chaos: ${options.runs} runs of ${procedures.join(', ')}; seed ${seed} (repeat with --seed ${seed})`);

  // Worker logs in this process stay quiet; the worker processes log to their own pipes.
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const base = TEST_DATA_DIR;
  mkdirSync(base, { recursive: true });
  // The payload key of the runner's client and of every worker process (test/helpers/temporal.ts).
  writeFileSync(path.join(base, 'codec.key'), randomBytes(32).toString('base64'));
  const server = await PersistentDevServer.start(path.join(base, 'temporal.db'));
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: log,
    },
  });
  const bundle = path.join(base, 'workflow-bundle.js');
  writeFileSync(bundle, code);
  process.env.LEDGER_DR_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.LEDGER_DR_TEST_WORKFLOW_BUNDLE = bundle;

  const connection = await Connection.connect({ address: server.address });
  const client = new Client({
    connection,
    namespace: 'default',
    dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
  });
  let rows;
  try {
    rows = await runChaos(
      procedures.map((name) => SCENARIOS[name]!()),
      server,
      client,
      base,
      {
        runs: options.runs,
        seed,
        serverKills: options.serverKill ? 1 : 0,
        killEveryMs: [8000, 25000],
        restartAfterMs: [0, 2000],
        log,
      },
    );
  } finally {
    await connection.close();
    await server.stop();
  }
  log('');
  log(renderTable(rows));
  const violations = rows.flatMap((r) => r.violations.map((v) => `${r.procedure} ${v}`));
  for (const v of violations) log(`violation: ${v}`);
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ seed, runs: options.runs, rows }, null, 2)}\n`);
  if (violations.length === 0) rmSync(base, { recursive: true, force: true });
  else log(`kept ${base} for inspection`);
  return violations.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos runner failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
