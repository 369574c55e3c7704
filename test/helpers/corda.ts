/**
 * A simulated Corda business network for tests: nodes with their SSH shells and Jolokia endpoints, the
 * launcher stand-in in their start/stop commands, and a `kind: corda` configuration pointing at all of it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import type { LedgerDrConfig } from '../../shared/config';
import { seal } from '../../shared/sealed-file';
import { CordaBusinessNetwork, type SimulatedCordaNode } from '../../simulators/corda/network';
import { CordaNetworkServers } from '../../simulators/corda/servers';
import { PROJECT_ROOT } from './paths';
import type { TestPostgres } from './postgres';
import { writeConfig } from './temporal';

/** Corda's checkpoint tables, as the tests expect them emptied (in the node's own deletion order). */
export const CHECKPOINT_TABLES = [
  'node_checkpoints',
  'node_checkpoint_blobs',
  'node_flow_results',
  'node_flow_exceptions',
  'node_flow_metadata',
];

export const partyOf = (id: string) => `O=${id.toUpperCase()}, L=London, C=GB`;

/**
 * What a peer's operator does for a manual recovery: ExportTransactionsFlow into a folder (the VaultArchive
 * `<requestId>/…`), that folder as a tar, sealed with the network's key and written to `sealedFile`.
 */
export function sealVaultArchive(
  peer: SimulatedCordaNode,
  requestId: string,
  workDir: string,
  key: Buffer,
  sealedFile: string,
): string {
  const exportDir = path.join(workDir, `export-${peer.id}-${requestId}`);
  mkdirSync(exportDir, { recursive: true });
  peer.runFlow('ExportTransactionsFlow', { requestId, path: exportDir });
  const tarFile = `${exportDir}.tar`;
  tar.c({ sync: true, cwd: exportDir, file: tarFile, portable: true }, [requestId]);
  mkdirSync(path.dirname(sealedFile), { recursive: true });
  writeFileSync(sealedFile, seal(readFileSync(tarFile), key), { mode: 0o600 });
  rmSync(exportDir, { recursive: true, force: true });
  rmSync(tarFile, { force: true });
  return sealedFile;
}

export interface TestCordaNetwork {
  network: CordaBusinessNetwork;
  servers: CordaNetworkServers;
  dir: string;
  archiveKey: Buffer;
  config: LedgerDrConfig;
  configFile: string;
  /** The `networks.<name>` entry as written, to combine several networks in one configuration. */
  rawNetwork: object;
  /** The nodes' shell login, for tests that talk to a shell as an operator would. */
  shellLogin: { user: string; password: string };
  stop(): Promise<void>;
}

export async function startTestCordaNetwork(options: {
  name: string;
  dir: string;
  nodes: string[];
  generation?: 'collaborative-recovery' | 'ledger-recovery';
  /** The node whose checkpoint tables live in this database. */
  database?: { node: string; pg: TestPostgres; database: string };
  stuckAfterMinutes?: number;
  /** Peers per node; every other node when absent. */
  peersOf?: (id: string) => string[];
  concurrency?: number;
  /** Further top-level configuration (alerts …). */
  extra?: object;
}): Promise<TestCordaNetwork> {
  mkdirSync(options.dir, { recursive: true });
  const network = new CordaBusinessNetwork(path.join(options.dir, 'nodes'));
  for (const id of options.nodes) network.addNode(id, partyOf(id));
  const shellPassword = randomBytes(12).toString('hex');
  const servers = new CordaNetworkServers(network, { user: 'ops', password: shellPassword });
  await servers.start();
  const secret = (name: string, value: string) => {
    const file = path.join(options.dir, name);
    writeFileSync(file, value, { mode: 0o600 });
    return { file };
  };
  const password = secret('shell-password', shellPassword);
  const archiveKey = randomBytes(32);
  const ctl = `${JSON.stringify(process.execPath)} --import tsx simulators/corda/node-ctl.ts --simulator ${servers.httpUrl}`;
  const db = options.database;
  const rawNetwork = {
    kind: 'corda',
    executor: { type: 'local', cwd: PROJECT_ROOT },
    nodes: network.nodes.map((node) => ({
      id: node.id,
      party: node.party,
      baseDirectory: node.baseDirectory,
      shell: {
        host: '127.0.0.1',
        port: servers.shellPort(node.id),
        user: 'ops',
        password,
        hostKeySha256: servers.hostKeySha256,
      },
      jolokia: { url: servers.jolokiaUrl(node.id) },
      commands: { start: `${ctl} start --node ${node.id}`, stop: `${ctl} stop --node ${node.id}` },
      startPaused: `${ctl} start --node ${node.id} --pause-all-flows`,
      ...(options.peersOf ? { peers: options.peersOf(node.id).map(partyOf) } : {}),
      ...(db && db.node === node.id
        ? {
            database: {
              host: db.pg.host,
              port: db.pg.port,
              database: db.database,
              user: db.pg.user,
              password: secret('db-password', db.pg.password),
            },
          }
        : {}),
    })),
    corda: {
      generation: options.generation ?? 'collaborative-recovery',
      archiveDirectory: path.join(options.dir, 'archives'),
      archiveEncryptionKey: secret('archive.key', archiveKey.toString('base64')),
      reconciliation: {
        stuckAfterMinutes: options.stuckAfterMinutes ?? 60,
        concurrency: options.concurrency ?? 20,
      },
    },
  };
  const { file, config } = writeConfig(options.dir, { ...options.extra, networks: { [options.name]: rawNetwork } });
  return {
    network,
    servers,
    dir: options.dir,
    archiveKey,
    config,
    configFile: file,
    rawNetwork,
    shellLogin: { user: 'ops', password: shellPassword },
    async stop() {
      network.stopAll();
      await servers.stop();
    },
  };
}
