/**
 * `ledger-dr`, the operator's command line. With `--api <url>` it calls the HTTP API (token from
 * LEDGER_DR_API_TOKEN); without, it talks to Temporal directly (standard TEMPORAL_* settings and the
 * configuration file) through the same request handling the API uses, in-process.
 *
 * Exit codes: 0 success; 1 the run failed, was cancelled or the request was refused; 2 bad usage;
 * 3 cannot reach the API or Temporal.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Connection } from '@temporalio/client';
import { STEERING, type SteeringPath } from '../contracts/updates';
import { Command, CommanderError, Option } from 'commander';
import { buildApiForConfig } from '../api/server';
import { configPath, loadConfig } from '../shared/config';
import { temporalSettings } from '../shared/temporal';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

interface Reply {
  status: number;
  body: unknown;
  text: string;
}

type Send = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Over HTTP to a running API. */
function apiSender(base: string, token: string | undefined): Send {
  return async (method, path, body, headers = {}) => {
    let response: Response;
    try {
      response = await fetch(`${base.replace(/\/$/, '')}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new CliError(`cannot reach the API at ${base}: ${(err as Error).message}`, EXIT.unreachable);
    }
    const text = await response.text();
    return { status: response.status, text, body: parseJson(text) };
  };
}

/** Straight to Temporal, through the API's own handlers run in this process. */
async function localSender(): Promise<{ send: Send; close(): Promise<void> }> {
  const config = loadConfig(configPath());
  const settings = temporalSettings();
  let connection;
  try {
    connection = await Connection.connect(settings.connection as Parameters<typeof Connection.connect>[0]);
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${settings.connection.address}: ${(err as Error).message}`,
      EXIT.unreachable,
    );
  }
  const token = randomBytes(16).toString('hex');
  const app = await buildApiForConfig({
    connection,
    namespace: settings.namespace,
    config,
    tokens: new Map([[token, { name: `cli:${os.userInfo().username}`, role: 'local' as const }]]),
  });

  return {
    send: async (method, path, body, headers = {}) => {
      const res = await app.inject({
        method: method as 'GET',
        url: path,
        headers: { authorization: `Bearer ${token}`, ...headers },
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      return { status: res.statusCode, text: res.body, body: parseJson(res.body) };
    },
    close: async () => {
      await app.close();
      await connection.close();
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function expectOk(reply: Reply, okStatuses = [200, 201]): unknown {
  if (okStatuses.includes(reply.status)) return reply.body;
  const message = (reply.body as { error?: { message?: string } }).error?.message ?? reply.text;
  throw new CliError(
    message,
    reply.status === 401 || reply.status === 403 ? EXIT.failed : reply.status >= 500 ? EXIT.unreachable : EXIT.failed,
  );
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join(
    '\n',
  );
}

/** `key=value` pairs into procedure options; numbers and booleans are typed. */
function parseOptions(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new CliError(`--option ${pair}: expected key=value, such as drill=true`, EXIT.usage);
    const raw = pair.slice(i + 1);
    out[pair.slice(0, i)] =
      raw === 'true' ? true : raw === 'false' ? false : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  }
  return out;
}

interface Shown {
  id: string;
  runId: string;
  status: string;
  phase?: string;
  awaiting: { what: string; from: string }[];
  steps: { name: string; title: string; outcome?: string; durationMs?: number; detail?: string; startedAt: string }[];
}

export async function run(
  argv: string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<number> {
  let sender: { send: Send; close?(): Promise<void> } | undefined;
  const program = new Command('ledger-dr')
    .description('Start and steer ledger-dr disaster-recovery procedures')
    .option('--api <url>', 'call the ledger-dr API instead of Temporal directly (token from LEDGER_DR_API_TOKEN)')
    .option('--json', 'machine-readable output')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => process.stderr.write(s) });
  const json = () => program.opts<{ json?: boolean }>().json === true;
  const send: Send = async (...args) => {
    if (!sender) {
      const api = program.opts<{ api?: string }>().api;
      sender = api ? { send: apiSender(api, process.env.LEDGER_DR_API_TOKEN) } : await localSender();
    }
    return sender.send(...args);
  };
  const runPath = (id: string) => `/v1/recoveries/${encodeURIComponent(id)}`;
  const print = (value: unknown, human: () => string) => out(json() ? JSON.stringify(value, null, 2) : human());
  let exitCode: number = EXIT.ok;

  program
    .command('start')
    .description('start a procedure: ccf-recovery, ccf-health-watch or network-preflight')
    .argument('<procedure>')
    .argument('<network>')
    .option('-o, --option <key=value...>', 'procedure option, e.g. -o drill=true -o pollIntervalMs=500', [])
    .option('--idempotency-key <key>', 'makes a retried start return the first run')
    .action(async (procedure: string, network: string, opts: { option: string[]; idempotencyKey?: string }) => {
      const body = { procedure, network, options: parseOptions(opts.option) };
      const started = expectOk(
        await send(
          'POST',
          '/v1/recoveries',
          body,
          opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
        ),
      ) as { id: string; runId: string };
      print(started, () => `started ${started.id} (run ${started.runId})`);
    });

  program
    .command('list')
    .description('list runs')
    .option('--network <name>')
    .option('--procedure <name>')
    .addOption(
      new Option('--status <status>').choices(['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'TimedOut']),
    )
    .option('--phase <phase>')
    .action(async (opts: Record<string, string | undefined>) => {
      const query = new URLSearchParams(Object.entries(opts).filter((e): e is [string, string] => e[1] !== undefined));
      const { runs } = expectOk(await send('GET', `/v1/recoveries?${query.toString()}`)) as {
        runs: Record<string, unknown>[];
      };
      print(runs, () => table(runs, ['id', 'procedure', 'network', 'status', 'phase', 'startedAt']));
    });

  program
    .command('show')
    .argument('<id>')
    .description('phase, steps and what a run waits for')
    .action(async (id: string) => {
      const shown = expectOk(await send('GET', runPath(id))) as Shown;
      print(shown, () =>
        [
          `${shown.id}  ${shown.status}  phase ${shown.phase ?? '?'}`,
          ...shown.steps.map((s) => `  ${mark(s.outcome)} ${s.title}${s.detail ? ` — ${s.detail}` : ''}`),
          ...shown.awaiting.map((a) => `  ⏸ waiting for ${a.what} from ${a.from}`),
        ].join('\n'),
      );
    });

  program
    .command('watch')
    .argument('<id>')
    .option('--interval <ms>', 'poll interval', '1000')
    .description('follow a run until it ends; exits 0 if it succeeded')
    .action(async (id: string, opts: { interval: string }) => {
      const seen = new Map<string, string>();
      let phase = '';
      let awaiting = '';
      for (;;) {
        const shown = expectOk(await send('GET', runPath(id))) as Shown;
        if (shown.phase && shown.phase !== phase) {
          phase = shown.phase;
          out(json() ? JSON.stringify({ phase }) : `phase: ${phase}`);
        }
        for (const s of shown.steps) {
          const key = `${s.name}@${s.startedAt}`;
          const state = s.outcome ?? 'running';
          if (seen.get(key) === state || (state === 'running' && seen.has(key))) continue;
          seen.set(key, state);
          out(
            json()
              ? JSON.stringify({ step: s.name, state, durationMs: s.durationMs })
              : `  ${mark(s.outcome)} ${s.title}${s.detail ? ` — ${s.detail}` : ''}`,
          );
        }
        const waiting = shown.awaiting.map((a) => `${a.what} from ${a.from}`).join('; ');
        if (waiting && waiting !== awaiting)
          out(json() ? JSON.stringify({ awaiting: shown.awaiting }) : `  ⏸ waiting for ${waiting}`);
        awaiting = waiting;
        if (shown.status !== 'RUNNING') {
          out(json() ? JSON.stringify({ status: shown.status }) : `${shown.id} ${shown.status.toLowerCase()}`);
          exitCode = shown.status === 'COMPLETED' ? EXIT.ok : EXIT.failed;
          return;
        }
        await new Promise((r) => setTimeout(r, Number(opts.interval)));
      }
    });

  /** How each steering command's options become the update's body (the contract lists the commands). */
  const bodies: Record<SteeringPath, (o: Record<string, string | string[] | undefined>) => object> = {
    approve: (o) => ({
      ...(o.comment ? { comment: o.comment } : {}),
      ...(o.participantId ? { participantId: o.participantId } : {}),
    }),
    'archive-arrived': (o) => ({ party: o.party, requestId: o.requestId, path: o.path }),
    'agree-timestamp': (o) => ({ timestamp: o.timestamp }),
    'lsu-parameters': (o) => ({
      newPhysicalSynchronizerId: o.synchronizerId,
      sequencerSuccessors: ((o.sequencer as string[] | undefined) ?? []).map((s) => {
        const [sequencerId, endpoint = ''] = s.split('=');
        const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
        return { sequencerId, host: endpoint.slice(0, endpoint.lastIndexOf(':')), port };
      }),
    }),
    vote: (o) => ({ member: o.member }),
    'shares-submitted': (o) => ({ member: o.member, ...(o.message ? { message: o.message } : {}) }),
    'proposal-submitted': (o) => ({ member: o.member, proposalId: o.proposalId }),
  };
  for (const { path, summary } of STEERING)
    program
      .command(path)
      .argument('<id>')
      .description(summary.charAt(0).toLowerCase() + summary.slice(1))
      .option('--comment <text>')
      .option('--member <name>')
      .option('--message <text>')
      .option('--proposal-id <hex>')
      .option('--participant-id <id>', 'canton-network-recovery: the new participant id for a re-onboarding')
      .option('--timestamp <utc>', 'canton-network-recovery: the agreed timestamp, e.g. 2024-04-17T19:12:02Z')
      .option('--party <x500>', 'corda-recovery: the peer whose archive arrived')
      .option('--request-id <id>', 'corda-recovery: the manual-recovery request')
      .option('--path <file>', 'corda-recovery: where the sealed archive arrived')
      .option('--synchronizer-id <psid>', 'canton-lsu-recovery: the new physical synchronizer id')
      .option(
        '--sequencer <id=host:port>',
        'canton-lsu-recovery: a sequencer successor, e.g. SEQ::sv1::1220…=sequencer.sv1.example.com:443 (repeat for each)',
        (value: string, previous: string[] = []) => [...previous, value],
      )
      .action(async (id: string, opts: Record<string, string | string[] | undefined>) => {
        const result = expectOk(await send('POST', `${runPath(id)}/${path}`, bodies[path](opts)));
        print(result, () => (result as { result?: string }).result ?? 'done');
      });

  program
    .command('cancel')
    .argument('<id>')
    .option('--reason <text>')
    .action(async (id: string, opts: { reason?: string }) => {
      const result = expectOk(await send('POST', `${runPath(id)}/cancel`, opts.reason ? { reason: opts.reason } : {}));
      print(result, () => `cancellation requested for ${id}`);
    });

  program
    .command('report')
    .argument('<id>')
    .addOption(new Option('--format <format>').choices(['md', 'html', 'json']).default('md'))
    .action(async (id: string, opts: { format: string }) => {
      const accept = { md: 'text/markdown', html: 'text/html', json: 'application/json' }[opts.format]!;
      const reply = await send('GET', `${runPath(id)}/report`, undefined, { accept });
      expectOk(reply);
      out(opts.format === 'json' ? JSON.stringify(reply.body, null, 2) : reply.text.trimEnd());
    });

  const schedule = program.command('schedule').description('Temporal Schedules of procedures');
  schedule
    .command('create')
    .argument('<id>')
    .argument('<procedure>')
    .argument('<network>')
    .option('--every <interval>', 'e.g. 30m, 6h, 1d')
    .option('--cron <expression>')
    .addOption(
      new Option('--overlap <policy>').choices(['SKIP', 'BUFFER_ONE', 'ALLOW_ALL', 'CANCEL_OTHER']).default('SKIP'),
    )
    .option('-o, --option <key=value...>', 'procedure option', [])
    .action(
      async (
        id: string,
        procedure: string,
        network: string,
        opts: { every?: string; cron?: string; overlap: string; option: string[] },
      ) => {
        const body = {
          id,
          procedure,
          network,
          overlap: opts.overlap,
          options: parseOptions(opts.option),
          ...(opts.every ? { every: opts.every } : {}),
          ...(opts.cron ? { cron: opts.cron } : {}),
        };
        const created = expectOk(await send('POST', '/v1/schedules', body));
        print(created, () => `schedule ${id} created`);
      },
    );
  schedule.command('list').action(async () => {
    const { schedules } = expectOk(await send('GET', '/v1/schedules')) as { schedules: Record<string, unknown>[] };
    print(schedules, () => table(schedules, ['id', 'workflowType', 'paused', 'next']));
  });
  for (const action of ['pause', 'resume', 'trigger'] as const) {
    schedule
      .command(action)
      .argument('<id>')
      .action(async (id: string) => {
        const result = expectOk(await send('POST', `/v1/schedules/${encodeURIComponent(id)}/${action}`, {}));
        print(result, () => `${id}: ${(result as { result: string }).result}`);
      });
  }
  schedule
    .command('delete')
    .argument('<id>')
    .action(async (id: string) => {
      const result = expectOk(await send('DELETE', `/v1/schedules/${encodeURIComponent(id)}`));
      print(result, () => `${id}: deleted`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      process.stderr.write(`ledger-dr: ${err.message}\n`);
      return err.exitCode;
    }
    const name = (err as Error).name;
    if (name === 'ConfigError' || name === 'CodecError' || name === 'SecretUnavailableError') {
      process.stderr.write(`ledger-dr: ${(err as Error).message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`ledger-dr: ${(err as Error).message}\n`);
    return EXIT.failed;
  } finally {
    await sender?.close?.();
  }
}

function mark(outcome: string | undefined): string {
  return outcome === 'succeeded' ? '✔' : outcome === 'failed' ? '✘' : outcome === 'skipped' ? '·' : '▶';
}

if (require.main === module) {
  void run(process.argv.slice(2)).then((code) => process.exit(code));
}
