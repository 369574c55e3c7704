/**
 * `npm run bench`: the benchmarks of docs/BENCHMARKS.md, each beside its baseline in the same run. Prints a
 * table and writes the figures as JSON (`--json`, default .data/bench/results.json).
 */
import './environment';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { PROJECT_ROOT } from '../test/helpers/paths';
import { ccfDecisionLatency, ccfOverhead } from './ccf';
import { crashResume } from './crash-resume';
import { machine, renderTable, startBench, type BenchContext, type BenchRow } from './harness';
import { reconciliationFanOut } from './reconciliation';
import { streaming } from './streaming';

const ROWS: Record<string, (context: BenchContext, options: { sizeGb: number }) => Promise<BenchRow[]>> = {
  'ccf-overhead': (c) => ccfOverhead(c),
  'decision-latency': (c) => ccfDecisionLatency(c),
  reconciliation: (c) => reconciliationFanOut(c),
  streaming: (c, o) => streaming(c, o.sizeGb),
  'crash-resume': (c) => crashResume(c),
};

function rowList(value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !ROWS[n]);
  if (unknown.length)
    throw new InvalidArgumentError(`unknown row ${unknown.join(', ')}; known: ${Object.keys(ROWS).join(', ')}`);
  return names;
}

function gigabytes(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 64) throw new InvalidArgumentError('expected a size in GB, up to 64');
  return n;
}

async function main(): Promise<number> {
  const options = new Command('npm run bench --')
    .description(
      'Measure ledger-dr against baselines run in the same process: overhead, latency, fan-out, streaming, crash resume',
    )
    .option('--only <rows>', `comma-separated rows (${Object.keys(ROWS).join(', ')})`, rowList)
    .option('--size-gb <n>', 'size of the streamed snapshot and database', gigabytes, 2)
    .option('--json <file>', 'where to write the figures', path.join(PROJECT_ROOT, '.data', 'bench', 'results.json'))
    .option('--update-docs', 'also put the table and the machine into docs/BENCHMARKS.md')
    .parse(process.argv)
    .opts<{ only?: string[]; sizeGb: number; json: string; updateDocs?: boolean }>();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const host = machine();
  log(
    `machine: ${Object.entries(host)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}`,
  );
  const bench = await startBench(log);
  const rows: BenchRow[] = [];
  try {
    for (const name of options.only ?? Object.keys(ROWS)) {
      log(`${name}:`);
      const started = Date.now();
      rows.push(...(await ROWS[name]!(bench, { sizeGb: options.sizeGb })));
      log(`  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await bench.stop();
  }
  log('');
  log(renderTable(rows));
  for (const r of rows.filter((r) => r.notes)) log(`  ${r.row} / ${r.metric}: ${r.notes}`);
  mkdirSync(path.dirname(options.json), { recursive: true });
  writeFileSync(options.json, `${JSON.stringify({ at: new Date().toISOString(), machine: host, rows }, null, 2)}\n`);
  log(`figures written to ${path.relative(process.cwd(), options.json)}`);
  if (options.updateDocs) {
    const docs = path.join(PROJECT_ROOT, 'docs', 'BENCHMARKS.md');
    const section = [
      `Measured ${new Date().toISOString().slice(0, 10)} on: ${Object.entries(host)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ')}.`,
      '',
      renderTable(rows),
      '',
      ...rows.filter((r) => r.notes).map((r) => `- ${r.row}, ${r.metric}: ${r.notes}`),
    ].join('\n');
    const text = readFileSync(docs, 'utf8');
    const [before, rest] = text.split('<!-- bench:start -->');
    const after = rest?.split('<!-- bench:end -->')[1];
    if (before === undefined || after === undefined)
      throw new Error(`${docs}: the bench:start/bench:end markers are missing`);
    // Formatted as the lint step (prettier --check) expects.
    const prettier = await import('prettier');
    const formatted = await prettier.format(`${before}<!-- bench:start -->\n${section}\n<!-- bench:end -->${after}`, {
      ...(await prettier.resolveConfig(docs)),
      filepath: docs,
    });
    writeFileSync(docs, formatted);
    log(`table written to ${path.relative(process.cwd(), docs)}`);
  }
  return rows.every((r) => r.met) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
