/**
 * Stands in for a Corda node's start and stop commands in launcher templates:
 *   node-ctl.ts start|stop --simulator <url> --node <id> [--pause-all-flows]
 * It exits non-zero when the node did not stop (a node that refuses to stop).
 */
async function main(argv: string[]): Promise<number> {
  const action = argv.find((a) => a === 'start' || a === 'stop');
  const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const simulator = flag('--simulator');
  const node = flag('--node');
  if (!action || !simulator || !node) {
    process.stderr.write('usage: node-ctl.ts start|stop --simulator <url> --node <id>\n');
    return 2;
  }
  const paused = argv.includes('--pause-all-flows') ? '?pauseAllFlows=true' : '';
  const response = await fetch(`${simulator}/control/${encodeURIComponent(node)}/${action}${paused}`, {
    method: 'POST',
  });
  const body = await response.text();
  if (!response.ok) {
    process.stderr.write(`node-ctl: ${node} ${action}: HTTP ${response.status} ${body}\n`);
    return 1;
  }
  process.stdout.write(`${node}: ${body}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`node-ctl: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
