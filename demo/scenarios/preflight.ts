/**
 * Demo scenario: a preflight of a three-node network, one of whose nodes is down, with an alert to a
 * webhook receiver the demo runs on loopback (standing in for the operator's alerting).
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../shared/config';
import { networkPreflight, type NetworkPreflightResult } from '../../workflows/network-preflight';
import type { DemoScenario } from './scenario';

export const preflightScenario: DemoScenario<NetworkPreflightResult> = {
  title: 'Network preflight',

  async prepare(dataDir) {
    const received: string[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const alert = JSON.parse(body) as { summary?: string };
        received.push(alert.summary ?? body);
        console.log(`  [alert receiver] ${alert.summary}`);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    const raw = {
      alerts: { webhooks: [{ name: 'demo-receiver', url }] },
      networks: {
        demo: {
          kind: 'ccf',
          description: 'Three nodes; n2 is down',
          nodes: [
            { id: 'n0', commands: { status: 'echo {{node}} is running' } },
            { id: 'n1', commands: { status: 'echo {{node}} is running' } },
            { id: 'n2', commands: { status: 'echo {{node}} is not running >&2; exit 3' } },
          ],
        },
      },
    };
    const file = path.join(dataDir, 'ledger-dr.yaml');
    writeFileSync(file, stringify(raw));
    return {
      config: parseConfig(stringify(raw), file),
      describe: () => [`Config:      ${file}`, `Alerts:      ${url}`],
      stop: () =>
        new Promise<void>((resolve) => {
          receiver.closeAllConnections();
          receiver.close(() => resolve());
        }),
    };
  },

  start: (client, taskQueue) =>
    client.workflow.start(networkPreflight, {
      taskQueue,
      workflowId: `demo-preflight-${new Date().toISOString().replace(/[:.]/g, '-')}`,
      args: [{ network: 'demo' }],
    }),

  summarise: (result) => [
    ...result.nodes.map((n) => `${n.node}: ${n.healthy ? 'healthy' : `UNHEALTHY — ${n.problems.join('; ')}`}`),
    `alerted: ${result.alerted.join(', ') || 'nobody'}`,
    `total time: ${((result.report.durationMs ?? 0) / 1000).toFixed(2)} s`,
  ],
};
