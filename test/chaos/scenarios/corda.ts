/**
 * Corda under chaos: recoveries of a node restored from a backup (checkpoint cleanup, queue quarantine,
 * reconciliation, automatic and manual recovery, the peer operator's archive played by the scenario), and
 * scheduled reconciliation of business networks with failing peers and missing transactions.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { startProcedure } from '../../../shared/start-procedure';
import { createCheckpointTables, fillCheckpoints } from '../../../simulators/corda/checkpoints';
import type { CordaReconciliationResult } from '../../../workflows/corda-reconciliation';
import type { CordaRecoveryResult } from '../../../workflows/corda-recovery';
import { statusQuery } from '../../../contracts/status';
import {
  CHECKPOINT_TABLES,
  partyOf,
  sealVaultArchive,
  startTestCordaNetwork,
  type TestCordaNetwork,
} from '../../helpers/corda';
import { startTestPostgres, type TestPostgres } from '../../helpers/postgres';
import { resultOf, retryTransient, sleep, type ChaosScenario } from '../harness';
import { alertsApplied } from '../invariants';

export function cordaRecoveryScenario(): ChaosScenario {
  const SLOTS = 3;
  let pg: TestPostgres;
  const slots: { corda: TestCordaNetwork; db: Client; name: string }[] = [];
  return {
    procedure: 'corda-recovery',
    slots: SLOTS,
    async setup({ dir }) {
      pg = await startTestPostgres();
      const networks: Record<string, object> = {};
      for (let s = 0; s < SLOTS; s++) {
        const database = `node_a_${s}`;
        pg.sql('postgres', `create database ${database}`);
        const db = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database });
        await db.connect();
        await createCheckpointTables(db);
        const name = `chaos-corda-${s}`;
        const corda = await startTestCordaNetwork({
          name,
          dir: path.join(dir, name),
          nodes: ['a', 'b', 'c'],
          database: { node: 'a', pg, database },
        });
        networks[name] = corda.rawNetwork;
        slots.push({ corda, db, name });
      }
      return networks;
    },
    async run(slot, index, { client, taskQueue, random }) {
      const { corda, db, name } = slots[slot]!;
      const net = corda.network;
      const [a, b, c] = ['a', 'b', 'c'].map((id) => net.node(id)) as [
        ReturnType<typeof net.node>,
        ReturnType<typeof net.node>,
        ReturnType<typeof net.node>,
      ];
      // The node was just restored from a backup: stopped, with stale checkpoints and queue files.
      a.stop();
      b.start();
      c.start();
      const flows = await fillCheckpoints(db, random.int(1, 3));
      const marker = `run ${index}`;
      for (const folder of ['artemis/journal', 'brokers']) {
        mkdirSync(path.join(a.baseDirectory, folder), { recursive: true });
        writeFileSync(path.join(a.baseDirectory, folder, 'data.bin'), marker);
      }
      // Lost with b: a few (automatic, while b's hourly limits last); with c: more than one request may carry.
      const lost = new Map<string, string[]>([
        [
          b.party,
          Array.from({ length: random.int(1, 4) }, () => net.addTransaction([a.party, b.party], { missingAt: ['a'] })),
        ],
        [
          c.party,
          Array.from({ length: random.int(31, 40) }, () =>
            net.addTransaction([a.party, c.party], { missingAt: ['a'] }),
          ),
        ],
      ]);
      const startsBefore = a.starts;
      const archivesBefore = archivesOf(corda);

      const handle = await startProcedure(client, {
        procedure: 'cordaRecovery',
        network: name,
        taskQueue,
        input: { node: 'a', pollIntervalMs: 100, busyBackoffMs: 100 },
      });
      const done = resultOf<CordaRecoveryResult>(handle);
      let settled = false;
      void done.finally(() => (settled = true)).catch(() => undefined);
      // The peers' operators: each export asked for is made, sealed with the network's key and reported.
      const answered = new Set<string>();
      while (!settled) {
        const status = await retryTransient(() => handle.query(statusQuery)).catch(() => undefined);
        for (const awaited of status?.awaiting ?? []) {
          const match = /^the recovery archive from (.+) for request (\S+)$/.exec(awaited.what);
          if (!match || answered.has(match[2]!)) continue;
          const [, party, requestId] = match as unknown as [string, string, string];
          const peer = net.byParty(party)!;
          const sealed = sealVaultArchive(
            peer,
            requestId,
            corda.dir,
            corda.archiveKey,
            path.join(corda.dir, `from-${peer.id}-${requestId}.sealed`),
          );
          await retryTransient(() =>
            handle.executeUpdate('archiveArrived', {
              args: [{ actor: `ops-${peer.id}`, party, requestId, path: sealed }],
              updateId: `archive-${requestId}`,
            }),
          );
          answered.add(requestId);
        }
        await sleep(300);
      }
      const result = await done;

      const problems: string[] = [];
      for (const table of CHECKPOINT_TABLES) {
        const n = (await db.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]!.n;
        if (n !== '0') problems.push(`${table} still has ${n} rows`);
      }
      // Every checkpoint row is in the archive exactly once, and the archive matches its manifest.
      const archive = result.checkpointsRemoved.archive;
      const manifest = JSON.parse(
        readFileSync(path.join(path.dirname(archive), 'checkpoints.manifest.json'), 'utf8'),
      ) as {
        sha256: string;
      };
      if (createHash('sha256').update(readFileSync(archive)).digest('hex') !== manifest.sha256)
        problems.push('the checkpoint archive does not match its manifest');
      const keys = readFileSync(archive, 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { table, row } = JSON.parse(l) as { table: string; row: { flow_id: string } };
          return `${table}/${row.flow_id}`;
        });
      if (new Set(keys).size !== keys.length) problems.push('a checkpoint row is in the archive twice');
      const archivedFlows = keys.filter((k) => k.startsWith('node_checkpoints/')).map((k) => k.split('/')[1]);
      if (archivedFlows.sort().join() !== [...flows].sort().join())
        problems.push(`${archivedFlows.length} checkpoints archived, ${flows.length} there were`);
      // Queues moved aside with their content, never deleted.
      for (const q of result.quarantined) {
        const file = path.join(q, q.endsWith('artemis') ? 'journal' : '', 'data.bin');
        if (!existsSync(file) || readFileSync(file, 'utf8') !== marker) problems.push(`${q} lost its content`);
      }
      if (result.quarantined.length !== 2) problems.push(`${result.quarantined.length} queue folders quarantined`);
      if (a.status !== 'STARTED') problems.push(`node a is ${a.status}`);
      if (a.starts !== startsBefore + 1) problems.push(`node a was started ${a.starts - startsBefore} times`);
      for (const [party, txs] of lost) {
        const missing = txs.filter((tx) => !a.vault.has(tx)).length;
        if (missing) problems.push(`${missing} transactions with ${party} still missing`);
        const recovery = result.recoveries.find((r) => r.party === party);
        if (recovery?.recovered !== txs.length || recovery.remaining !== 0)
          problems.push(`recovery from ${party}: ${JSON.stringify(recovery)}`);
      }
      if (![...a.reconciliations.values()].every((r) => r.status === 'DIFFERENCES_NOT_FOUND'))
        problems.push('reconciliation still shows differences');
      // Earlier runs' archives are all still there and intact; no opened copy is left.
      const archivesAfter = archivesOf(corda);
      for (const [file, digest] of archivesBefore)
        if (archivesAfter.get(file) !== digest) problems.push(`${file} was deleted or changed`);
      const opened = [...archivesAfter.keys()].filter((f) => path.basename(f).startsWith('import-'));
      if (opened.length) problems.push(`opened recovery archives left: ${opened.join(', ')}`);
      return problems;
    },
    async teardown() {
      for (const { corda, db } of slots) {
        await corda.stop();
        await db.end();
      }
      await pg?.stop();
    },
  };
}

/** Every file under the network's archive directory, with its SHA-256. */
function archivesOf(corda: TestCordaNetwork): Map<string, string> {
  const root = path.join(corda.dir, 'archives');
  const out = new Map<string, string>();
  if (!existsSync(root)) return out;
  for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    const file = path.join(root, name);
    try {
      out.set(file, createHash('sha256').update(readFileSync(file)).digest('hex'));
    } catch {
      // a folder
    }
  }
  return out;
}

export function cordaReconciliationScenario(): ChaosScenario {
  const SLOTS = 3;
  const NODES = Array.from({ length: 20 }, (_, i) => `n${String(i).padStart(2, '0')}`);
  const peersOf = (id: string) => {
    const i = NODES.indexOf(id);
    return Array.from({ length: 5 }, (_, k) => NODES[(i + 1 + k) % NODES.length]!);
  };
  const networks: { corda: TestCordaNetwork; name: string }[] = [];
  return {
    procedure: 'corda-reconciliation',
    slots: SLOTS,
    async setup({ dir }) {
      const raw: Record<string, object> = {};
      for (let s = 0; s < SLOTS; s++) {
        const name = `chaos-bn-${s}`;
        const corda = await startTestCordaNetwork({
          name,
          dir: path.join(dir, name),
          nodes: NODES,
          peersOf,
          concurrency: 5,
        });
        for (const node of corda.network.nodes) node.start();
        raw[name] = corda.rawNetwork;
        networks.push({ corda, name });
      }
      return raw;
    },
    async run(slot, _index, { client, taskQueue, random, webhook }) {
      const { corda, name } = networks[slot]!;
      const net = corda.network;
      // Injected: some peers fail to reconcile, some pairs lack transactions.
      const failing = new Set<string>();
      const failingCount = random.int(1, 3);
      while (failing.size < failingCount) {
        const node = random.pick(NODES);
        failing.add(`${node}|${random.pick(peersOf(node))}`);
      }
      for (const pair of failing) {
        const [node, peer] = pair.split('|') as [string, string];
        net.node(node).faults.failingWith.add(partyOf(peer));
      }
      const different = new Map<string, string>();
      const differentCount = random.int(1, 3);
      while (different.size < differentCount) {
        const node = random.pick(NODES);
        const peer = random.pick(peersOf(node));
        if (failing.has(`${node}|${peer}`) || different.has(`${node}|${peer}`)) continue;
        different.set(`${node}|${peer}`, net.addTransaction([partyOf(node), partyOf(peer)], { missingAt: [node] }));
      }
      const alertsBefore = alertsApplied(webhook, name);
      const handle = await startProcedure(client, {
        procedure: 'cordaReconciliation',
        network: name,
        taskQueue,
        input: { pollIntervalMs: 100, busyBackoffMs: 100 },
      });
      const result = await resultOf<CordaReconciliationResult>(handle);
      const problems: string[] = [];
      const pairs = (list: { node: string; party: string }[]) =>
        list
          .map((f) => `${f.node}|${NODES.find((n) => partyOf(n) === f.party)}`)
          .sort()
          .join();
      if (pairs(result.failed) !== [...failing].sort().join())
        problems.push(`failed ${pairs(result.failed)}, injected ${[...failing].sort().join()}`);
      if (pairs(result.withDifferences) !== [...different.keys()].sort().join())
        problems.push(`differences ${pairs(result.withDifferences)}, injected ${[...different.keys()].sort().join()}`);
      if (result.nodesNotReconciled.length)
        problems.push(`nodes not reconciled: ${JSON.stringify(result.nodesNotReconciled)}`);
      if (result.pairs !== NODES.length * 5) problems.push(`${result.pairs} pairs reconciled`);
      const alerts = alertsApplied(webhook, name) - alertsBefore;
      if (alerts !== 1) problems.push(`${alerts} alerts applied (expected 1)`);
      const inProgress = net.nodes
        .flatMap((n) => [...n.reconciliations.values()])
        .filter((r) => r.status === 'IN_PROGRESS');
      if (inProgress.length) problems.push(`${inProgress.length} reconciliations left IN_PROGRESS`);
      // Repair what was injected, for the next run.
      for (const node of net.nodes) node.faults.failingWith.clear();
      for (const [pair, tx] of different) net.node(pair.split('|')[0]!).vault.add(tx);
      return problems;
    },
    async teardown() {
      for (const { corda } of networks) await corda.stop();
    },
  };
}
