/**
 * Demo scenario: a three-node CCF service has crashed, leaving ledgers of different lengths. The simulator
 * (in this process) stands in for cchost; nodes are launched through the same launcher command templates an
 * operator configures, and the recovery runs as a drill (ledger-dr signs for the demo's members).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../shared/config';
import { startProcedure } from '../../shared/start-procedure';
import { createCrashedNetwork } from '../../simulators/ccf/ledger';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import type { CcfRecoveryResult } from '../../workflows/ccf-recovery';
import type { DemoScenario } from './scenario';
import { freeLoopbackPort } from '../../shared/net';

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
const NODES = [
  { id: 'n0', lastSignedSeqno: 1200 },
  { id: 'n1', lastSignedSeqno: 2430, snapshotSeqno: 1500 },
  { id: 'n2', lastSignedSeqno: 2030 },
];

export const ccfRecoveryScenario: DemoScenario<CcfRecoveryResult> = {
  title: 'CCF network recovery (drill)',

  async prepare(dataDir) {
    // Each demo run recovers a freshly crashed network.
    const dir = path.join(dataDir, 'ccf');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const sim = new CcfSimulator({ replayEntriesPerSecond: 800 });
    await sim.start();
    const ports = await Promise.all(NODES.map(() => freeLoopbackPort()));
    const fixture = await createCrashedNetwork({
      dir: path.join(dir, 'crashed'),
      nodes: NODES.map((n, i) => ({ ...n, port: ports[i]! })),
      members: 3,
      recoveryThreshold: 2,
      recoveryCount: 0,
    });
    const cchost = `${JSON.stringify(process.execPath)} --import tsx simulators/ccf/cchost.ts --simulator ${sim.controlUrl}`;
    // The demo's payload key lives beside its Temporal database, so earlier runs stay readable in the UI.
    const keyFile = path.join(dataDir, 'codec.key');
    if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    const raw = {
      encryption: { activeKey: 'demo', keys: [{ id: 'demo', key: { file: keyFile } }] },
      networks: {
        demo: {
          kind: 'ccf',
          description: 'Three-node CCF service that crashed (simulated)',
          executor: { type: 'local', cwd: PROJECT_ROOT },
          ccf: {
            previousServiceIdentityFile: fixture.previousServiceCertificateFile,
            workDirectory: path.join(dir, 'work'),
            backupDirectory: path.join(dir, 'backups'),
            serviceCertificateDestinations: [path.join(dir, 'clients', 'service_cert.pem')],
            launcher: { start: `${cchost} --config {{config}}`, stop: `${cchost} stop --config {{config}}` },
            members: fixture.members.map((m, i) => ({
              name: `member${i}`,
              certificateFile: m.certificateFile,
              signingKey: { file: m.signingKeyFile },
              encryptionKey: { file: m.encryptionPrivateKeyFile },
            })),
          },
          nodes: NODES.map((n, i) => ({
            id: n.id,
            url: `https://127.0.0.1:${ports[i]}`,
            ledgerDirectory: fixture.nodes[i]!.ledgerDirectory,
            snapshotsDirectory: fixture.nodes[i]!.snapshotsDirectory,
          })),
        },
      },
    };
    const file = path.join(dataDir, 'ledger-dr.yaml');
    const text = stringify(raw);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, text);
    return {
      config: parseConfig(text, file),
      describe: () => [
        `Config:      ${file}`,
        `Simulator:   ${sim.controlUrl} (CCF nodes on ${ports.map((p) => `127.0.0.1:${p}`).join(', ')})`,
        `Ledgers:     ${NODES.map((n) => `${n.id} ${n.lastSignedSeqno}`).join(', ')} (last signed seqno)`,
      ],
      stop: () => sim.stop(),
      // The ledgers were only read, so crashing every node brings back the same disaster.
      resetForNextRun: async () => {
        await sim.crashAll();
        return 'The simulated network has crashed again (same ledgers)';
      },
    };
  },

  start: (client, taskQueue) =>
    startProcedure(client, {
      procedure: 'ccfRecovery',
      network: 'demo',
      taskQueue,
      input: { drill: true, force: false, pollIntervalMs: 500 },
    }),

  summarise: (result) => {
    const seconds = (ms?: number) => `${((ms ?? 0) / 1000).toFixed(2)} s`;
    return [
      `chosen ledger: ${result.chosen.node} (${result.chosen.reason})`,
      ...result.candidates.map(
        (c) =>
          `  ${c.node}: last_signed_seqno ${c.lastSignedSeqno ?? '?'}${c.excluded ? ` — excluded: ${c.excluded}` : ''}`,
      ),
      `joined: ${result.joined.join(', ') || 'none'}`,
      `recovery_count: ${result.recoveryCount}; service created at ${result.serviceCreateTxid}`,
      `new service certificate: ${result.certificateWrites.map((w) => w.destination).join(', ')}`,
      'timings:',
      ...result.report.steps.map(
        (s) => `  ${s.title.padEnd(56)} ${s.outcome === 'skipped' ? 'skipped' : seconds(s.durationMs)}`,
      ),
      `total time: ${seconds(result.report.durationMs)}`,
    ];
  },
};
