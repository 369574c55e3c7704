/**
 * corda-recovery on the real dev server, against simulated Corda nodes (SSH shell, Jolokia, the launcher
 * stand-in) and the node's checkpoint tables in a real PostgreSQL.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { startProcedure } from '../../shared/start-procedure';
import { createCheckpointTables, fillCheckpoints } from '../../simulators/corda/checkpoints';
import type { CordaRecoveryResult } from '../../workflows/corda-recovery';
import { statusQuery } from '../../contracts/status';
import {
  CHECKPOINT_TABLES,
  partyOf,
  sealVaultArchive,
  startTestCordaNetwork,
  type TestCordaNetwork,
} from '../helpers/corda';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres';
import {
  connectTestTemporal,
  scratchDir,
  startTestWorker,
  uniqueTaskQueue,
  type TestTemporal,
} from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

describe('corda-recovery', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let db: Client;
  let corda: TestCordaNetwork;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;
  const count = (table: string) => pg.sql('node_a', `select count(*) from ${table}`);

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database node_a');
    db = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'node_a' });
    await db.connect();
    await createCheckpointTables(db);
    corda = await startTestCordaNetwork({
      name: 'bn',
      dir: scratchDir('corda-recovery'),
      nodes: ['a', 'b', 'c', 'd', 'e'],
      database: { node: 'a', pg, database: 'node_a' },
    });
    taskQueue = uniqueTaskQueue('corda');
    worker = await startTestWorker(temporal, taskQueue, { config: corda.config });
  });
  afterAll(async () => {
    await worker?.stop();
    await corda?.stop();
    await db?.end();
    await pg?.stop();
    await temporal?.close();
  });

  it('refuses a running node and changes nothing', async () => {
    await fillCheckpoints(db, 1);
    const a = corda.network.node('a');
    a.start();
    mkdirSync(path.join(a.baseDirectory, 'artemis', 'journal'), { recursive: true });
    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'bn',
      taskQueue,
      input: { node: 'a', pollIntervalMs: 100 },
    });
    await expect(handle.result()).rejects.toThrow();
    const status = await handle.query(statusQuery);
    expect(status.report.failure).toMatch(
      /^node a is running \(.*process-id is locked by process \d+.*Jolokia answers: status STARTED.*Nothing was changed\.$/,
    );
    expect(count('node_checkpoints')).toBe('6');
    expect(existsSync(path.join(a.baseDirectory, 'artemis', 'journal'))).toBe(true);
    expect(a.flowLog).toEqual([]);
    expect(a.running).toBe(true);
    a.stop();
    await db.query(CHECKPOINT_TABLES.map((t) => `delete from ${t}`).join(';'));
  });

  it('cleans checkpoints and queues, restarts the node and recovers every missing transaction', async () => {
    const net = corda.network;
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => net.node(id));
    for (const id of ['b', 'c', 'd', 'e']) net.node(id).start();
    const flows = await fillCheckpoints(db, 3);
    for (const folder of ['artemis/journal', 'artemis/bindings', 'brokers']) {
      mkdirSync(path.join(a!.baseDirectory, folder), { recursive: true });
      writeFileSync(path.join(a!.baseDirectory, folder, 'data.bin'), `queue ${folder}`);
    }
    // Injected: 2 of 5 shared with B lost (automatic), 40 shared with C lost (over the 30-transaction limit:
    // manual), 1 with D still in flight (a false positive), E complete.
    const lostB = Array.from({ length: 5 }, (_, i) =>
      net.addTransaction([a!.party, b!.party], i < 2 ? { missingAt: ['a'] } : {}),
    );
    const lostC = Array.from({ length: 40 }, () => net.addTransaction([a!.party, c!.party], { missingAt: ['a'] }));
    net.addTransaction([a!.party, d!.party], { inFlightAt: ['a'] });
    for (let i = 0; i < 3; i++) net.addTransaction([a!.party, partyOf('e')]);
    b!.faults.busy = 1;

    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'bn',
      taskQueue,
      input: { node: 'a', pollIntervalMs: 100, busyBackoffMs: 100 },
    });
    // C's operator exports the archive for the request, seals it with the network's key and sends it.
    const awaited = await waitFor('the manual-recovery archive to be awaited', async () =>
      (await handle.query(statusQuery)).awaiting.find((w) => w.what.startsWith('the recovery archive from')),
    ).catch(async (e) => {
      console.log(JSON.stringify(await handle.query(statusQuery), null, 1));
      throw e;
    });
    const requestId = /for request (\S+)$/.exec(awaited.what)![1]!;
    const sealedArchive = sealVaultArchive(
      c!,
      requestId,
      corda.dir,
      corda.archiveKey,
      path.join(corda.dir, 'incoming', 'from-c.sealed'),
    );
    await handle.executeUpdate('archiveArrived', {
      args: [{ actor: 'ops-c', party: c!.party, requestId, path: sealedArchive }],
    });
    const result = (await handle.result()) as CordaRecoveryResult;

    // Checkpoints: tables empty, every row in the archive, counts by status recorded.
    for (const table of CHECKPOINT_TABLES) expect(count(table)).toBe('0');
    const archive = readFileSync(result.checkpointsRemoved.archive);
    const manifest = JSON.parse(
      readFileSync(path.join(path.dirname(result.checkpointsRemoved.archive), 'checkpoints.manifest.json'), 'utf8'),
    );
    expect(createHash('sha256').update(archive).digest('hex')).toBe(manifest.sha256);
    const lines = archive
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { table: string; row: { flow_id: string } });
    expect(new Set(lines.filter((l) => l.table === 'node_checkpoints').map((l) => l.row.flow_id))).toEqual(
      new Set(flows),
    );
    expect(result.checkpointsRemoved.rows).toEqual({
      node_checkpoints: 18,
      node_checkpoint_blobs: 18,
      node_flow_results: 3,
      node_flow_exceptions: 6,
      node_flow_metadata: 18,
    });
    expect(result.checkpointsRemoved.byStatus).toEqual({
      RUNNABLE: 3,
      FAILED: 3,
      COMPLETED: 3,
      HOSPITALIZED: 3,
      KILLED: 3,
      PAUSED: 3,
    });
    // Queues moved aside, not deleted.
    expect(existsSync(path.join(a!.baseDirectory, 'artemis'))).toBe(false);
    expect(result.quarantined.map((q) => path.basename(q)).sort()).toEqual(['artemis', 'brokers']);
    expect(
      readFileSync(
        path.join(
          result.quarantined.find((q) => q.endsWith('artemis'))!,
          'journal',
          'data.bin',
        ),
        'utf8',
      ),
    ).toBe('queue artemis/journal');

    // The node runs and lacks nothing; the false positive cleared without a recovery request.
    expect(a!.status).toBe('STARTED');
    for (const tx of [...lostB, ...lostC]) expect(a!.vault.has(tx)).toBe(true);
    expect(result.falsePositives).toEqual([d!.party]);
    expect([...a!.recoveryRequests.values()].map((r) => r.party)).not.toContain(d!.party);
    expect(result.recoveries).toEqual([
      { party: b!.party, differences: 2, recovered: 2, how: 'automatic', remaining: 0 },
      {
        party: c!.party,
        differences: 40,
        recovered: 40,
        how: 'manual',
        remaining: 0,
        detail: 'TransactionLimitExceededException',
      },
    ]);
    expect(result.notRecovered).toEqual([]);
    expect([...a!.reconciliations.values()].every((r) => r.status === 'DIFFERENCES_NOT_FOUND')).toBe(true);
    // The archive is gone once the re-reconciliation was clean, and no opened copy was left behind.
    expect(existsSync(sealedArchive)).toBe(false);
    expect(readdirSync(path.dirname(result.checkpointsRemoved.archive)).sort()).toEqual([
      'checkpoints.jsonl',
      'checkpoints.manifest.json',
    ]);
    expect(result.report.notes.some((n) => n.includes('busy'))).toBe(true);
  });

  it('stops a node when asked, and gives up without touching anything when it refuses to stop', async () => {
    const a = corda.network.node('a');
    expect(a.running).toBe(true);
    await fillCheckpoints(db, 1);
    a.faults.refusesToStop = true;
    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'bn',
      taskQueue,
      input: { node: 'a', stopNode: true, pollIntervalMs: 100, stopTimeoutMs: 2000 },
    });
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.query(statusQuery)).report.failure).toMatch(/^node a stopped: not reached after 2s/);
    expect(count('node_checkpoints')).toBe('6');
    a.faults.refusesToStop = false;
    await db.query(CHECKPOINT_TABLES.map((t) => `delete from ${t}`).join(';'));
  });

  it('offers the gentler cleanup: paused start, each paused flow killed through the shell, normal restart', async () => {
    const a = corda.network.node('a');
    a.database = { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'node_a' };
    const flows = await fillCheckpoints(db, 2);
    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'bn',
      taskQueue,
      input: { node: 'a', stopNode: true, checkpointCleanup: 'pause-and-kill', pollIntervalMs: 100 },
    });
    const result = (await handle.result()) as CordaRecoveryResult;
    for (const table of CHECKPOINT_TABLES) expect(count(table)).toBe('0');
    expect(a.startedPaused).toBe(1);
    expect(new Set(a.killedFlows)).toEqual(new Set(flows));
    expect(a.running && !a.flowsPaused).toBe(true);
    expect(result.checkpointsRemoved.rows.node_checkpoints).toBe(12);
    expect(result.report.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['start-paused', 'kill-paused-flows', 'restart-node']),
    );
    expect(result.report.steps.map((s) => s.name)).not.toContain('delete-checkpoints');
  });
});

describe('corda-recovery with Corda 4.12 LedgerRecoveryFlow', () => {
  let temporal: TestTemporal;
  let pg: TestPostgres;
  let corda: TestCordaNetwork;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    pg = await startTestPostgres();
    pg.sql('postgres', 'create database node_a');
    const db = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'node_a' });
    await db.connect();
    await createCheckpointTables(db);
    await fillCheckpoints(db, 1);
    await db.end();
    corda = await startTestCordaNetwork({
      name: 'bn412',
      dir: scratchDir('corda-412'),
      nodes: ['a', 'b', 'c'],
      generation: 'ledger-recovery',
      database: { node: 'a', pg, database: 'node_a' },
    });
    taskQueue = uniqueTaskQueue('corda-412');
    worker = await startTestWorker(temporal, taskQueue, { config: corda.config });
  });
  afterAll(async () => {
    await worker?.stop();
    await corda?.stop();
    await pg?.stop();
    await temporal?.close();
  });

  it('runs a dry run, then recovers for real over the configured window', async () => {
    const net = corda.network;
    net.node('b').start();
    net.node('c').start();
    const lost = [
      ...Array.from({ length: 4 }, () => net.addTransaction([partyOf('a'), partyOf('b')], { missingAt: ['a'] })),
      ...Array.from({ length: 50 }, () => net.addTransaction([partyOf('a'), partyOf('c')], { missingAt: ['a'] })),
    ];
    const handle = await startProcedure(temporal.client, {
      procedure: 'cordaRecovery',
      network: 'bn412',
      taskQueue,
      input: { node: 'a', pollIntervalMs: 100 },
    });
    const result = (await handle.result()) as CordaRecoveryResult;
    expect(result.ledgerRecovery!.dryRun.totalRecoveredTransactions).toBe(54);
    expect(result.ledgerRecovery!.result).toEqual({
      totalRecoveredRecords: 54,
      totalRecoveredTransactions: 54,
      totalRecoveredInFlightTransactions: 0,
      totalErrors: 0,
    });
    for (const tx of lost) expect(net.node('a').vault.has(tx)).toBe(true);
    // The dry run came first, and nothing of LedgerSync was used.
    expect(net.node('a').flowLog).toEqual(['LedgerRecoveryFlow', 'LedgerRecoveryFlow']);
    expect(pg.sql('node_a', 'select count(*) from node_checkpoints')).toBe('0');
  });
});
