/**
 * Stands in for Splice's docker-compose start.sh / stop.sh in launcher command templates:
 *   validator-ctl.ts start|stop --simulator <url> [-m <migration id>] [-i <identities dump> -P <new participant id>]
 *   validator-ctl.ts last-event --simulator <url>   the time of the last `Processing event at` log line, or nothing
 */
async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--simulator');
  const simulator = i >= 0 ? argv[i + 1] : process.env.CANTON_SIMULATOR_URL;
  if (argv.includes('last-event') && simulator) {
    const { at } = (await (await fetch(`${simulator}/control/last-event`)).json()) as { at: string | null };
    process.stdout.write(at ? `${at}\n` : '');
    return 0;
  }
  const action = argv.find((a) => a === 'start' || a === 'stop');
  if (!action || !simulator) {
    process.stderr.write('usage: validator-ctl.ts start|stop --simulator <url>\n');
    return 2;
  }
  // start.sh -i <identities dump> -P <new participant id>: re-onboarding.
  const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const query = new URLSearchParams();
  const identities = flag('-i');
  const participantId = flag('-P');
  const migrationId = flag('-m');
  if (migrationId) query.set('migrationId', migrationId);
  if (identities) query.set('identities', identities);
  if (participantId) query.set('participantId', participantId);
  const response = await fetch(`${simulator}/control/${action}?${query.toString()}`, { method: 'POST' });
  if (!response.ok) {
    process.stderr.write(`validator-ctl: HTTP ${response.status}: ${await response.text()}\n`);
    return 1;
  }
  process.stdout.write(`validator ${action === 'start' ? 'started' : 'stopped'}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`validator-ctl: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
