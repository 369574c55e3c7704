/**
 * Network preflight: before the worst day, check that ledger-dr can reach every node of a network and run
 * its status command there, and alert the operator's webhooks about any node it cannot reach.
 *
 * Runbook:
 *   1. Read the network's plan from configuration.
 *   2. For every node at once: run its status command (if configured) and probe its endpoint (if configured).
 *   3. If any node failed a check, alert every configured webhook (once per run, whatever the retries).
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, EndpointProbe, NodeCommandResult } from '../activities';
import type { ProcedureReport } from '../contracts/report';
import { requireNetworkName, requireObject, rejectUnknownFields } from './lib/input';
import { asWorkflowFailure, Procedure } from './lib/procedure';

export interface NetworkPreflightInput {
  network: string;
}

export interface NodePreflight {
  node: string;
  status?: NodeCommandResult;
  endpoint?: EndpointProbe;
  healthy: boolean;
  problems: string[];
}

export interface NetworkPreflightResult {
  report: ProcedureReport;
  nodes: NodePreflight[];
  alerted: string[];
}

const { describeNetwork } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 5 },
});

// Failed commands and unreachable endpoints are results: attempts fail only when a worker dies under them.
const { runNodeCommand, probeNodeEndpoint } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry: { maximumInterval: '10s', maximumAttempts: 10 },
});

const { sendAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', maximumInterval: '1m', maximumAttempts: 20 },
});

export async function networkPreflight(rawInput: NetworkPreflightInput): Promise<NetworkPreflightResult> {
  const input = requireObject(rawInput);
  rejectUnknownFields(input, ['network']);
  const network = requireNetworkName(input);
  const run = new Procedure('network-preflight', network);

  try {
    const plan = await run.step(
      'read-plan',
      'Read the network from configuration',
      () => describeNetwork({ network }),
      (p) => `${p.kind} network with ${p.nodes.length} nodes`,
    );

    const nodes = await run.step(
      'check-nodes',
      'Check every node',
      () =>
        Promise.all(
          plan.nodes.map(async (node): Promise<NodePreflight> => {
            const [status, endpoint] = await Promise.all([
              node.commands.status ? runNodeCommand({ network, node: node.id, command: 'status' }) : undefined,
              node.url ? probeNodeEndpoint({ network, node: node.id }) : undefined,
            ]);
            const problems: string[] = [];
            if (status && !status.succeeded)
              problems.push(`status command exited ${status.exitCode} (${node.executor})`);
            if (endpoint && !endpoint.reachable) problems.push(`endpoint ${node.url} unreachable: ${endpoint.error}`);
            if (!status && !endpoint) problems.push('nothing to check: configure a url or a status command');
            return { node: node.id, status, endpoint, healthy: problems.length === 0, problems };
          }),
        ),
      (checked) => `${checked.filter((n) => n.healthy).length}/${checked.length} nodes healthy`,
    );

    const unhealthy = nodes.filter((n) => !n.healthy);
    for (const n of unhealthy) run.note(`${n.node}: ${n.problems.join('; ')}`);

    let alerted: string[] = [];
    if (unhealthy.length === 0) {
      run.skip('alert', 'Alert the operator', 'every node is healthy');
    } else if (plan.alertWebhooks.length === 0) {
      run.skip('alert', 'Alert the operator', 'no alert webhooks are configured');
    } else {
      const { workflowId, runId } = workflowInfo();
      alerted = await run.step('alert', 'Alert the operator', async () => {
        await Promise.all(
          plan.alertWebhooks.map((webhook) =>
            sendAlert({
              webhook,
              // Stable across retries of this activity, distinct per run and per webhook.
              idempotencyKey: `${workflowId}/${runId}/preflight/${webhook}`,
              alert: {
                network,
                procedure: 'network-preflight',
                severity: 'warning',
                summary: `${unhealthy.length} of ${nodes.length} nodes of ${network} failed preflight`,
                details: unhealthy.map((n) => `${n.node}: ${n.problems.join('; ')}`),
              },
            }),
          ),
        );
        return plan.alertWebhooks;
      });
    }
    return { report: run.succeed(), nodes, alerted };
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}
