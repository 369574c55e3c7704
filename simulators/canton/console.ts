/**
 * Stands in for the Canton console (`canton run <script>`) in lsu.consoleCommand templates, for the one
 * script ledger-dr runs there: the guide's roll-forward LSU. No Canton can run here, so this reads the
 * script's values the way the console would bind them (the successor's PhysicalSynchronizerId, the
 * synchronizer alias, each SequencerId and GrpcConnection endpoint) and asks the validator simulator to move
 * its participant; what the real console accepts is listed as unverified in docs/CONFORMANCE.md.
 *
 *   console.ts --simulator <url> --script <text of the script>
 */
async function main(argv: string[]): Promise<number> {
  const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const simulator = flag('--simulator') ?? process.env.CANTON_SIMULATOR_URL;
  const script = flag('--script');
  if (!simulator || script === undefined) {
    process.stderr.write('usage: console.ts --simulator <url> --script <script>\n');
    return 2;
  }
  const one = (pattern: RegExp, what: string) => {
    const m = pattern.exec(script);
    if (!m) throw new Error(`script error: no ${what}`);
    return m[1]!;
  };
  const successor = one(/PhysicalSynchronizerId\.tryFromString\("([^"]+)"\)/, 'successor physical synchronizer id');
  const alias = one(/_\.synchronizerAlias == "([^"]+)"/, 'synchronizer alias');
  if (!/\.synchronizers\.perform_manual_lsu\(/.test(script) || !/upgradeTime = None/.test(script))
    throw new Error('script error: no perform_manual_lsu(existing, successor, upgradeTime = None, successors)');
  const sequencerSuccessors = [
    ...script.matchAll(
      /SequencerId\(UniqueIdentifier\.tryFromProtoPrimitive\("([^"]+)"\)\) ->\s*GrpcConnection\(NonEmpty\(Set, Endpoint\("([^"]+)", Port\.tryCreate\((\d+)\)\)\), transportSecurity = (true|false)/g,
    ),
  ].map((m) => ({ uid: m[1], host: m[2], port: Number(m[3]), tls: m[4] === 'true' }));

  const current = (await (await fetch(`${simulator}/control/synchronizer`)).json()) as {
    alias: string;
    physicalSynchronizerId: string;
  };
  if (current.physicalSynchronizerId === successor) {
    process.stdout.write('ledger-dr: lsu=already-connected\nledger-dr: connected=true\n');
    return 0;
  }
  if (current.alias !== alias) throw new Error(`java.util.NoSuchElementException: no synchronizer with alias ${alias}`);
  const res = await fetch(`${simulator}/control/lsu`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ current: current.physicalSynchronizerId, successor, sequencerSuccessors }),
  });
  if (!res.ok) throw new Error(`ERROR: perform_manual_lsu failed: ${((await res.json()) as { error: string }).error}`);
  process.stdout.write('ledger-dr: lsu=performed\nledger-dr: connected=true\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
