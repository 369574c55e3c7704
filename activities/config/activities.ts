/**
 * Reads the operator's configuration for a workflow. Workflows take a network's name as input and record
 * the resolved plan (names, endpoints, which commands exist; never credentials) in their history, so a run
 * keeps the plan it started with even if the file changes underneath it.
 */
import { z } from 'zod';
import { networkName, type LedgerDrConfig } from '../../shared/config';
import { parseInput } from '../errors';
import { networkForInput } from './networks';
import { createExecutor } from '../hosts/executor';

export interface NodePlan {
  id: string;
  url?: string;
  /** Where its commands run, e.g. "local shell" or "ssh ops@10.0.0.4:22". */
  executor: string;
  commands: { start: boolean; stop: boolean; status: boolean };
}

export interface NetworkPlan {
  network: string;
  kind: 'ccf' | 'canton' | 'corda';
  description?: string;
  nodes: NodePlan[];
  alertWebhooks: string[];
}

const describeNetworkInput = z.strictObject({ network: networkName });

export function createConfigActivities(deps: { config: LedgerDrConfig }) {
  return {
    async describeNetwork(input: { network: string }): Promise<NetworkPlan> {
      const { network: name } = parseInput(describeNetworkInput, input);
      const network = networkForInput(deps.config, name);
      return {
        network: name,
        kind: network.kind,
        description: network.description,
        nodes: network.nodes.map((node, i) => ({
          id: node.id,
          url: node.url,
          executor: createExecutor(node.executor ?? network.executor, `networks.${name}.nodes[${i}].executor`)
            .description,
          commands: { start: !!node.commands.start, stop: !!node.commands.stop, status: !!node.commands.status },
        })),
        alertWebhooks: deps.config.alerts.webhooks.map((w) => w.name),
      };
    },
  };
}
