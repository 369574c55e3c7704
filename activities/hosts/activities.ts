/**
 * Node commands (start, stop, status) run through each node's executor, and reachability probes of node
 * endpoints. A status command that exits non-zero is an answer ("not running"), not a failure.
 */
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import axios from 'axios';
import { z } from 'zod';
import { renderCommand } from '../../shared/command-template';
import { findNetwork, networkName, type LedgerDrConfig } from '../../shared/config';
import { withHeartbeats } from '../heartbeat';
import { invalidInput, parseInput } from '../errors';
import { createExecutor } from './executor';

export type NodeCommandName = 'start' | 'stop' | 'status';

export interface NodeCommandResult {
  node: string;
  command: NodeCommandName;
  exitCode: number | null;
  succeeded: boolean;
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
}

export interface EndpointProbe {
  node: string;
  reachable: boolean;
  httpStatus?: number;
  error?: string;
  latencyMs: number;
}

const nodeRef = z.strictObject({ network: networkName, node: z.string().min(1) });
const commandInput = nodeRef.extend({
  command: z.enum(['start', 'stop', 'status']),
  timeoutMs: z.number().int().min(100).max(3_600_000).default(120_000),
});

/** Output tails go into workflow history; a few hundred bytes explain a failure. */
const HISTORY_TAIL = 1024;

export function createHostActivities(deps: { config: LedgerDrConfig }) {
  function lookup(networkNameValue: string, nodeId: string) {
    const network = findNetwork(deps.config, networkNameValue);
    const index = network.nodes.findIndex((n) => n.id === nodeId);
    if (index < 0) throw invalidInput(`input.node: no node "${nodeId}" in network "${networkNameValue}"`);
    return { network, node: network.nodes[index]!, index };
  }

  return {
    async runNodeCommand(input: {
      network: string;
      node: string;
      command: NodeCommandName;
      timeoutMs?: number;
    }): Promise<NodeCommandResult> {
      const args = parseInput(commandInput, input);
      const { network, node, index } = lookup(args.network, args.node);
      const template = node.commands[args.command];
      if (!template) {
        throw invalidInput(
          `networks.${args.network}.nodes[${index}].commands.${args.command}: not configured; add a ${args.command} command for node ${node.id}`,
        );
      }
      const executor = createExecutor(
        node.executor ?? network.executor,
        `networks.${args.network}.nodes[${index}].executor`,
      );
      const command = renderCommand(template, { network: args.network, node: node.id });
      const result = await withHeartbeats((signal) => executor.run(command, { timeoutMs: args.timeoutMs, signal }));
      return {
        node: node.id,
        command: args.command,
        exitCode: result.exitCode,
        succeeded: result.exitCode === 0,
        stdoutTail: result.stdout.slice(-HISTORY_TAIL),
        stderrTail: result.stderr.slice(-HISTORY_TAIL),
        durationMs: result.durationMs,
      };
    },

    async probeNodeEndpoint(input: { network: string; node: string }): Promise<EndpointProbe> {
      const args = parseInput(nodeRef, input);
      const { node, index } = lookup(args.network, args.node);
      if (!node.url) throw invalidInput(`networks.${args.network}.nodes[${index}].url: not configured`);
      const ca = node.caFile ? await readFile(node.caFile, 'utf8') : undefined;
      const started = Date.now();
      try {
        // Any HTTP answer proves the endpoint is reachable; what it means is the procedure's business.
        const response = await axios.get(node.url, {
          timeout: 5000,
          validateStatus: () => true,
          httpsAgent: new https.Agent({ ca, keepAlive: false }),
          maxRedirects: 0,
        });
        return { node: node.id, reachable: true, httpStatus: response.status, latencyMs: Date.now() - started };
      } catch (err) {
        const code = (err as { code?: string }).code;
        return {
          node: node.id,
          reachable: false,
          error: code ?? (err as Error).message,
          latencyMs: Date.now() - started,
        };
      }
    },
  };
}
