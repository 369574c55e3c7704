/**
 * Network preflight under chaos: every node checked, the unhealthy ones named, and the operator alerted
 * exactly once per run however often the alert is delivered.
 */
import { startProcedure } from '../../../shared/start-procedure';
import type { NetworkPreflightResult } from '../../../workflows/network-preflight';
import { startHttpRecorder, type HttpRecorder } from '../../helpers/http-recorder';
import { resultOf, type ChaosScenario } from '../harness';
import { alertsApplied } from '../invariants';

export function networkPreflightScenario(): ChaosScenario {
  let endpoint: HttpRecorder;
  return {
    procedure: 'network-preflight',
    slots: 5,
    async setup({ runs }) {
      // A node endpoint that answers, slowly enough that kills land while it is probed.
      endpoint = await startHttpRecorder({ delayMs: () => 1500 });
      const networks: Record<string, object> = {};
      for (let i = 0; i < runs; i++) {
        networks[`chaos-preflight-${i}`] = {
          kind: 'corda',
          nodes: [
            { id: 'up', url: endpoint.url, commands: { status: 'sleep 1; echo running' } },
            { id: 'down', commands: { status: 'sleep 1; echo stopped >&2; exit 3' } },
            { id: 'gone', url: 'http://127.0.0.1:1/' },
          ],
        };
      }
      return networks;
    },
    async run(_slot, index, { client, taskQueue, webhook }) {
      const network = `chaos-preflight-${index}`;
      const handle = await startProcedure(client, { procedure: 'networkPreflight', network, taskQueue, input: {} });
      const result = await resultOf<NetworkPreflightResult>(handle);
      const problems: string[] = [];
      const unhealthy = result.nodes
        .filter((n) => !n.healthy)
        .map((n) => n.node)
        .sort();
      if (unhealthy.join() !== 'down,gone') problems.push(`unhealthy: ${unhealthy.join(', ')}`);
      const alerts = alertsApplied(webhook, network);
      if (alerts !== 1) problems.push(`${alerts} alerts applied (expected 1)`);
      return problems;
    },
    async teardown() {
      await endpoint?.close();
    },
  };
}
