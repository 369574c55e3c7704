/**
 * Planted secrets — a validator admin token (and a wrong one), database and shell passwords, the backup and
 * archive keys, the participant's private keys in its identities dump — through a Canton backup, a failed
 * backup and a Corda recovery in a worker process logging at debug. None may appear in the worker's logs, the
 * raw Temporal history, search attributes and memos, the reports, or the error messages.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import { Client } from 'pg';
import { startProcedure } from '../../shared/start-procedure';
import { createCheckpointTables, fillCheckpoints } from '../../simulators/corda/checkpoints';
import type { CantonValidatorSimulator } from '../../simulators/canton/validator';
import { startTestValidator, writeCantonConfig } from '../helpers/canton';
import { loadSpliceApi } from '../helpers/splice-openapi';
import { startTestCordaNetwork, type TestCordaNetwork } from '../helpers/corda';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import { connectTestTemporal, scratchDir, uniqueTaskQueue, writeConfig, type TestTemporal } from '../helpers/temporal';

describe('secrets stay secret', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let sim: CantonValidatorSimulator;
  let corda: TestCordaNetwork;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database validator');
    pg.sql('postgres', 'create database "participant-3"');
    pg.sql('postgres', 'create database node_a');
    pg.sql('validator', 'create table users (name text primary key, onboarded_at timestamptz not null)');
    sim = await startTestValidator(pg, 'PAR::secret::1220cc', 'LEDGER_DR_SECRET_TOKEN');
    process.env.LEDGER_DR_SECRET_WRONG_TOKEN = `${process.env.LEDGER_DR_SECRET_TOKEN!.slice(0, -6)}AAAAAA`;
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await corda?.stop();
    // Every request and answer of the file's tests, checked against Splice's own OpenAPI files.
    const problems = sim ? loadSpliceApi().validateAll(sim.exchanges) : [];
    await sim?.stop();
    await pg?.stop();
    await temporal?.close();
    expect(problems).toEqual([]);
  });

  it('appear nowhere they should not', async () => {
    const dir = scratchDir('secrets');
    const canton = writeCantonConfig(path.join(dir, 'canton'), {
      network: 'vault',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_SECRET_TOKEN',
    });
    const wrong = writeCantonConfig(path.join(dir, 'wrong'), {
      network: 'wrong-token',
      pg,
      sim,
      tokenEnv: 'LEDGER_DR_SECRET_WRONG_TOKEN',
    });
    corda = await startTestCordaNetwork({
      name: 'bn',
      dir: path.join(dir, 'corda'),
      nodes: ['a', 'b'],
      database: { node: 'a', pg, database: 'node_a' },
    });
    const db = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'node_a' });
    await db.connect();
    await createCheckpointTables(db);
    await fillCheckpoints(db, 1);
    await db.end();
    corda.network.node('b').start();
    const { file } = writeConfig(dir, {
      networks: { ...canton.config.networks, ...wrong.config.networks, ...corda.config.networks },
    });

    // What must never leak, read from where ledger-dr reads it.
    const identities = (
      await axios.get<{ keys: { keyPair: string }[] }>(`${sim.url}/api/validator/v0/admin/participant/identities`, {
        headers: { authorization: `Bearer ${process.env.LEDGER_DR_SECRET_TOKEN}` },
      })
    ).data;
    const secrets: Record<string, string> = {
      'admin token': process.env.LEDGER_DR_SECRET_TOKEN!,
      'wrong admin token': process.env.LEDGER_DR_SECRET_WRONG_TOKEN!,
      'database password': pg.password,
      'backup key': canton.backupKey.toString('base64'),
      'archive key': corda.archiveKey.toString('base64'),
      'shell password': readFileSync(path.join(dir, 'corda', 'shell-password'), 'utf8'),
      'participant private key': identities.keys[0]!.keyPair,
    };

    const taskQueue = uniqueTaskQueue('secrets');
    worker = await startWorkerProcess({ configFile: file, taskQueue, env: { LOG_LEVEL: 'debug' } });
    const runs = [
      await startProcedure(temporal.client, { procedure: 'cantonBackup', network: 'vault', taskQueue, input: {} }),
      await startProcedure(temporal.client, {
        procedure: 'cantonBackup',
        network: 'wrong-token',
        taskQueue,
        input: {},
      }),
      await startProcedure(temporal.client, {
        procedure: 'cordaRecovery',
        network: 'bn',
        taskQueue,
        input: { node: 'a', pollIntervalMs: 100 },
      }),
    ];
    const outcomes = await Promise.all(
      runs.map((r) =>
        r.result().then(
          () => 'ok',
          (e: Error) => e,
        ),
      ),
    );
    expect(outcomes[0]).toBe('ok');
    expect(outcomes[2]).toBe('ok');
    // The refused token is named by its setting, never by its value.
    const refusal = outcomes[1] as Error & { cause?: Error };
    expect(refusal.cause?.message).toMatch(/check networks\.wrong-token\.canton\.auth\.token/);

    const places: Record<string, string> = {
      'worker logs': worker.output(),
      'error message': String(refusal.cause?.message),
    };
    for (const run of runs) {
      places[`history of ${run.workflowId}`] = JSON.stringify(await run.fetchHistory());
      const description = await run.describe();
      places[`search attributes of ${run.workflowId}`] = JSON.stringify(description.typedSearchAttributes);
      places[`memo of ${run.workflowId}`] = JSON.stringify(description.memo ?? {});
      places[`report of ${run.workflowId}`] = JSON.stringify(await run.query('report'));
    }
    // The worker did log (at debug) while it worked: an empty log would prove nothing.
    expect(places['worker logs']!.length).toBeGreaterThan(1000);
    const leaks: string[] = [];
    for (const [what, value] of Object.entries(secrets)) {
      expect(value.length).toBeGreaterThanOrEqual(12);
      for (const [where, text] of Object.entries(places)) if (text.includes(value)) leaks.push(`${what} in ${where}`);
    }
    expect(leaks).toEqual([]);
  }, 180_000);
});
