/** The worker entry point as operators run it: JSON logs, metrics, clean shutdown, readable config errors. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import { freePort } from './helpers/ports';
import { PROJECT_ROOT } from './helpers/paths';
import { startWorkerProcess } from './helpers/processes';
import { connectTestTemporal, devServerAddress, scratchDir, uniqueTaskQueue, writeConfig } from './helpers/temporal';
import { waitFor } from './helpers/wait';
import { networkPreflight } from '../workflows';

describe('worker process', () => {
  it('logs JSON, serves Prometheus metrics and shuts down cleanly on SIGTERM', async () => {
    const { file } = writeConfig(scratchDir('worker'), { networks: { w: { kind: 'corda', nodes: [{ id: 'n0' }] } } });
    const metricsPort = await freePort();
    const taskQueue = uniqueTaskQueue('worker');
    const worker = await startWorkerProcess({
      configFile: file,
      taskQueue,
      env: { LEDGER_DR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` },
    });
    try {
      const ready = worker
        .output()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => entry.msg === 'worker running');
      expect(ready).toMatchObject({ address: devServerAddress(), namespace: 'default', networks: ['w'] });

      // A run of a procedure shows up in the per-procedure, per-network run metrics.
      const temporal = await connectTestTemporal();
      try {
        await temporal.client.workflow.execute(networkPreflight, {
          taskQueue,
          workflowId: uniqueTaskQueue('worker-run'),
          args: [{ network: 'w' }],
        });
      } finally {
        await temporal.close();
      }
      const metrics = await waitFor('run metrics', async () => {
        const res = await axios.get<string>(`http://127.0.0.1:${metricsPort}/metrics`);
        return res.data.includes('ledger_dr_runs_succeeded') ? res.data : undefined;
      });
      expect(metrics).toMatch(/^temporal_/m);
      expect(metrics).toMatch(/^ledger_dr_runs_started\{.*network="w".*procedure="network-preflight".*\} 1$/m);
      expect(metrics).toMatch(/^ledger_dr_runs_succeeded\{.*network="w".*\} 1$/m);
      expect(metrics).toMatch(/^ledger_dr_run_duration_bucket\{/m);
    } finally {
      expect(await worker.kill('SIGTERM')).toBe(0);
    }
    expect(worker.output()).toContain('"msg":"worker stopped"');
  });

  it('explains a bad configuration in one readable message, without a stack trace', () => {
    const dir = scratchDir('worker-bad');
    const file = path.join(dir, 'ledger-dr.yaml');
    writeFileSync(file, 'networks:\n  prod:\n    kind: corda\n    nodes:\n      - { id: n0, url: "ftp://x" }\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts')], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, LEDGER_DR_CONFIG: file, TEMPORAL_ADDRESS: devServerAddress() },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `${file}: invalid configuration\n  - networks.prod.nodes[0].url: expected an http or https URL\n`,
    );
  });
});
