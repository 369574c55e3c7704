/** The CCF simulator as a process: `tsx simulators/ccf/main.ts [--control-port N] [--replay-entries-per-second N]`. */
import { Command, InvalidArgumentError } from 'commander';
import { CcfSimulator } from './simulator';

const integer = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};

async function main(): Promise<void> {
  const options = new Command('ccf-simulator')
    .option('--control-port <port>', 'control API port on 127.0.0.1 (0: any free port)', integer, 0)
    .option('--replay-entries-per-second <n>', 'ledger replay speed', integer, 2000)
    .parse()
    .opts<{ controlPort: number; replayEntriesPerSecond: number }>();
  const sim = new CcfSimulator(options);
  await sim.start();
  process.stdout.write(`${JSON.stringify({ controlUrl: sim.controlUrl })}\n`);
  const shutdown = () => void sim.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

void main();
