/**
 * The `ledger-dr` CLI as a process: straight to Temporal, and through the API with --api.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildApi, resolveApiTokens } from '../../api/server';
import { createDataConverter } from '../../shared/codec';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import { createCcfTestNetwork, type CcfTestNetwork } from '../helpers/ccf';
import { PROJECT_ROOT } from '../helpers/paths';
import {
  connectTestTemporal,
  devServerAddress,
  startTestWorker,
  TEST_ENCRYPTION,
  uniqueTaskQueue,
  writeConfig,
  type TestTemporal,
} from '../helpers/temporal';

const CLI = path.join(PROJECT_ROOT, 'cli', 'main.ts');

describe('ledger-dr CLI', () => {
  let temporal: TestTemporal;
  let sim: CcfSimulator;
  let net: CcfTestNetwork;
  let taskQueue: string;
  let worker: Awaited<ReturnType<typeof startTestWorker>>;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    sim = new CcfSimulator({ replayEntriesPerSecond: 600 });
    await sim.start();
    net = await createCcfTestNetwork(sim, {
      name: 'clinet',
      nodes: [
        { id: 'n0', lastSignedSeqno: 600 },
        { id: 'n1', lastSignedSeqno: 900 },
      ],
    });
    taskQueue = uniqueTaskQueue('cli');
    worker = await startTestWorker(temporal, taskQueue, { config: net.config });
    env = {
      ...process.env,
      LEDGER_DR_CONFIG: net.configFile,
      LEDGER_DR_TASK_QUEUE: taskQueue,
      TEMPORAL_ADDRESS: devServerAddress(),
      TEMPORAL_NAMESPACE: 'default',
    };
  });
  afterAll(async () => {
    await worker?.stop();
    await sim?.stop();
    await temporal?.close();
  });

  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...env, ...extraEnv },
      encoding: 'utf8',
      timeout: 60_000,
    });

  /** For the API test: the API runs in this process, so the CLI must not block its event loop. */
  const cliAsync = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
        cwd: PROJECT_ROOT,
        env: { ...env, ...extraEnv },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('exit', (status) => resolve({ status, stdout, stderr }));
    });

  it('starts a recovery and watches each phase as it happens, exiting 0 when it succeeds', async () => {
    const started = cli(['--json', 'start', 'ccf-recovery', 'clinet', '-o', 'drill=true', '-o', 'pollIntervalMs=200']);
    expect(started.stderr).toBe('');
    expect(started.status).toBe(0);
    const { id } = JSON.parse(started.stdout) as { id: string };
    expect(id).toBe('ccf-recovery:clinet');

    // Follow it live; note when each line arrives.
    const watch = spawn(process.execPath, ['--import', 'tsx', CLI, 'watch', id, '--interval', '200'], {
      cwd: PROJECT_ROOT,
      env,
    });
    const lines: { at: number; text: string }[] = [];
    let buffer = '';
    watch.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const text of parts) lines.push({ at: Date.now(), text });
    });
    const code = await new Promise<number | null>((resolve) => watch.on('exit', resolve));
    expect(code).toBe(0);

    const phases = lines.filter((l) => l.text.startsWith('phase: ')).map((l) => l.text.slice(7));
    // The runbook's phases, in order, as the run went through them (quick ones may fall between two polls).
    const order = [
      'read-plan',
      'preflight',
      'backup',
      'start-recover-nodes',
      'public-recovery',
      'pick-ledger',
      'stop-other-candidates',
      'join-nodes',
      'member-acks',
      'propose-open',
      'ballots',
      'recovery-shares',
      'private-recovery',
      'check-recovery-count',
      'distribute-certificate',
      'completed',
    ];
    expect(phases).toContain('public-recovery');
    expect(phases[phases.length - 1]).toBe('completed');
    expect(phases.map((p) => order.indexOf(p))).toEqual([...phases.map((p) => order.indexOf(p))].sort((a, b) => a - b));
    // Lines came out while the run progressed, not all at the end.
    const firstPhase = lines.find((l) => l.text.startsWith('phase: '))!;
    const last = lines[lines.length - 1]!;
    expect(last.at - firstPhase.at).toBeGreaterThan(500);
    expect(lines.map((l) => l.text)).toContain(
      '  ✔ Pick the ledger with the highest last signed seqno — n1 at seqno 900',
    );
    expect(last.text).toBe(`${id} completed`);

    const report = cli(['report', id, '--format', 'md']);
    expect(report.status).toBe(0);
    expect(report.stdout).toContain('# ccf-recovery of clinet: succeeded');

    const listed = cli(['list', '--network', 'clinet']);
    expect(listed.status).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+PROCEDURE\s+NETWORK\s+STATUS\s+PHASE\s+STARTEDAT$/);
  });

  it('exits 2 on bad usage and 1 when a request is refused, with a message and no stack trace', () => {
    const usage = cli(['start']);
    expect(usage.status).toBe(2);
    const refused = cli(['start', 'ccf-recovery', 'nowhere']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('ledger-dr: body.network: no network "nowhere"; configured: clinet\n');
    const badOption = cli(['start', 'ccf-recovery', 'clinet', '-o', 'drill']);
    expect(badOption.status).toBe(2);
    expect(badOption.stderr).toContain('--option drill: expected key=value');
  });

  it('talks to the API with --api and the caller token', async () => {
    process.env.LEDGER_DR_TEST_CLI_VIEWER = 'cli-viewer-token-1';
    const { config } = writeConfig(net.dir, {
      ...net.rawConfig,
      api: { tokens: [{ name: 'vic', role: 'viewer', token: { env: 'LEDGER_DR_TEST_CLI_VIEWER' } }] },
    });
    const app = await buildApi({
      connection: temporal.connection,
      namespace: 'default',
      dataConverter: await createDataConverter({ encryption: TEST_ENCRYPTION }),
      config,
      taskQueue,
      tokens: await resolveApiTokens(config),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const listed = await cliAsync(['--api', api, '--json', 'list', '--network', 'clinet'], {
        LEDGER_DR_API_TOKEN: 'cli-viewer-token-1',
      });
      expect(listed.status).toBe(0);
      expect((JSON.parse(listed.stdout) as { network: string }[]).every((r) => r.network === 'clinet')).toBe(true);
      const refused = await cliAsync(['--api', api, 'start', 'ccf-recovery', 'clinet'], {
        LEDGER_DR_API_TOKEN: 'cli-viewer-token-1',
      });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toBe('ledger-dr: role viewer may not do this; it needs operator\n');
      const down = await cliAsync(['--api', 'http://127.0.0.1:9', 'list']);
      expect(down.status).toBe(3);
    } finally {
      await app.close();
    }
  });
});
