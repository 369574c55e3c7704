/**
 * corda-recovery in worker processes SIGKILLed during checkpoint cleanup (the export blocked on a table lock)
 * and during a manual recovery's import (the node's import slowed): another worker finishes each run, every
 * checkpoint row is in the archive exactly once, and every lost transaction is back.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { startProcedure } from '../../shared/start-procedure';
import { createCheckpointTables, fillCheckpoints } from '../../simulators/corda/checkpoints';
import type { CordaRecoveryResult } from '../../workflows/corda-recovery';
import { statusQuery } from '../../contracts/status';
import { sealVaultArchive, startTestCordaNetwork, type TestCordaNetwork } from '../helpers/corda';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import { startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import { connectTestTemporal, scratchDir, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

describe('corda-recovery survives SIGKILL of the worker', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let db: Client;
  let corda: TestCordaNetwork;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database node_a');
    db = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'node_a' });
    await db.connect();
    await createCheckpointTables(db);
    corda = await startTestCordaNetwork({
      name: 'crashy',
      dir: scratchDir('corda-crash'),
      nodes: ['a', 'b', 'c'],
      database: { node: 'a', pg, database: 'node_a' },
    });
  });
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await corda?.stop();
    await db?.end();
    await pg?.stop();
    await temporal?.close();
  });

  it('completes a recovery interrupted during cleanup and during a manual import', async () => {
    const net = corda.network;
    const [a, b, c] = ['a', 'b', 'c'].map((id) => net.node(id));
    b!.start();
    c!.start();
    const flows = await fillCheckpoints(db, 4);
    mkdirSync(path.join(a!.baseDirectory, 'artemis', 'journal'), { recursive: true });
    const lost = Array.from({ length: 35 }, () => net.addTransaction([a!.party, c!.party], { missingAt: ['a'] }));
    a!.faults.slowFlows.set('ImportTransactionsFlow', 3000);

    const taskQueue = uniqueTaskQueue('corda-crash');
    worker = await startWorkerProcess({ configFile: corda.configFile, taskQueue });
    // Another session holds the last checkpoint table: the export stops inside it.
    const blocker = new Client({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      database: 'node_a',
    });
    await blocker.connect();
    await blocker.query('begin; lock table node_flow_metadata in access exclusive mode');
    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'crashy',
      taskQueue,
      input: { node: 'a', pollIntervalMs: 100 },
    });
    const archives = path.join(corda.dir, 'archives', 'a');
    await waitFor('the checkpoint export in progress', async () => {
      const runs = existsSync(archives) ? readdirSync(archives) : [];
      return runs.some((r) => readdirSync(path.join(archives, r)).includes('checkpoints.jsonl.partial-1'))
        ? true
        : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
    await blocker.query('rollback');
    await blocker.end();
    worker = await startWorkerProcess({ configFile: corda.configFile, taskQueue });

    // Manual recovery: the peer's sealed export arrives; the worker is killed while the node imports it.
    const awaited = await waitFor('the manual-recovery archive to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.find((w) => w.what.startsWith('the recovery archive from')),
    );
    const requestId = /for request (\S+)$/.exec(awaited.what)![1]!;
    const sealedArchive = sealVaultArchive(
      c!,
      requestId,
      corda.dir,
      corda.archiveKey,
      path.join(corda.dir, 'from-c.sealed'),
    );
    await handle.executeUpdate('archiveArrived', {
      args: [{ actor: 'ops-c', party: c!.party, requestId, path: sealedArchive }],
    });
    // The opened archive exists exactly while the node imports it.
    await waitFor('the import in progress', async () => {
      for (const r of readdirSync(archives))
        if (readdirSync(path.join(archives, r)).some((n) => n.startsWith('import-'))) return true;
      return undefined;
    });
    expect(await worker.kill('SIGKILL')).toBe('SIGKILL');
    worker = await startWorkerProcess({ configFile: corda.configFile, taskQueue });
    const result = (await handle.result()) as CordaRecoveryResult;

    // Every checkpoint row archived exactly once, the tables empty, leftovers of the dead attempt gone.
    for (const table of ['node_checkpoints', 'node_checkpoint_blobs', 'node_flow_metadata'])
      expect(pg.sql('node_a', `select count(*) from ${table}`)).toBe('0');
    const lines = readFileSync(result.checkpointsRemoved.archive, 'utf8').trim().split('\n');
    const keys = lines.map((l) => {
      const { table, row } = JSON.parse(l) as { table: string; row: { flow_id: string } };
      return `${table}/${row.flow_id}`;
    });
    expect(new Set(keys).size).toBe(keys.length);
    expect(
      keys
        .filter((k) => k.startsWith('node_checkpoints/'))
        .map((k) => k.split('/')[1])
        .sort(),
    ).toEqual([...flows].sort());
    expect(result.checkpointsRemoved.rows.node_flow_metadata).toBe(24);
    expect(readdirSync(path.dirname(result.checkpointsRemoved.archive)).sort()).toEqual([
      'checkpoints.jsonl',
      'checkpoints.manifest.json',
    ]);
    // Every lost transaction is back, through the manual path, and the archive is gone.
    for (const tx of lost) expect(a!.vault.has(tx)).toBe(true);
    expect(result.recoveries).toEqual([
      {
        party: c!.party,
        differences: 35,
        recovered: 35,
        how: 'manual',
        remaining: 0,
        detail: 'TransactionLimitExceededException',
      },
    ]);
    expect(existsSync(sealedArchive)).toBe(false);
    const attempts = ((await handle.fetchHistory()).events ?? []).map(
      (e) => e.activityTaskStartedEventAttributes?.attempt ?? 0,
    );
    expect(attempts.filter((n) => n >= 2).length).toBeGreaterThanOrEqual(2);
  }, 240_000);
});
