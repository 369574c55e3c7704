/**
 * Stands in for a daemonising `cchost` wrapper in the operator's launcher command templates:
 *
 *   cchost.ts --config <cchost.json> [--simulator <controlUrl>]        start the node, return once it runs
 *   cchost.ts stop --config <cchost.json> [--simulator <controlUrl>]   stop it (fine when already stopped)
 *
 * The simulator's control URL comes from --simulator or CCF_SIMULATOR_URL. Kept to built-ins so it starts fast.
 */
import { readFileSync } from 'node:fs';

async function main(argv: string[]): Promise<number> {
  const stop = argv.includes('stop');
  const args = argv.filter((a) => a !== 'stop');
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const configFile = option('--config');
  const simulator = option('--simulator') ?? process.env.CCF_SIMULATOR_URL;
  if (!configFile || !simulator) {
    process.stderr.write('usage: cchost.ts [stop] --config <cchost.json> [--simulator <url> | CCF_SIMULATOR_URL]\n');
    return 2;
  }
  let config: { network?: { rpc_interfaces?: Record<string, { bind_address?: string }> } };
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8')) as typeof config;
  } catch (err) {
    process.stderr.write(`cannot read ${configFile}: ${(err as Error).message}\n`);
    return 1;
  }
  const body = stop ? { address: Object.values(config.network?.rpc_interfaces ?? {})[0]?.bind_address } : config;
  const response = await fetch(`${simulator}/control/nodes${stop ? '/stop' : ''}`, {
    method: 'POST',
    // When this process started: the simulator counts the launcher's own run time as the network's.
    headers: {
      'content-type': 'application/json',
      'x-launcher-started-at': String(Math.round(performance.timeOrigin)),
    },
    body: JSON.stringify(body),
  });
  const reply = (await response.json()) as { error?: string; nodeId?: string; address?: string };
  if (!response.ok) {
    process.stderr.write(`cchost: ${reply.error ?? `HTTP ${response.status}`}\n`);
    return 1;
  }
  process.stdout.write(stop ? `stopped\n` : `started node ${reply.nodeId} on ${reply.address}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cchost: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
