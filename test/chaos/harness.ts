/**
 * The chaos runner's engine. Every procedure's runs go on at once, several of each, on one worker process
 * (as one orchestrator serves many networks), against the simulators each scenario starts. A monkey SIGKILLs
 * that worker at seeded random moments and starts a new one after a seeded random pause; at a random moment
 * the Temporal server itself is SIGKILLed and started again on its database. After each run the scenario
 * checks its invariants.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { type RandomGenerator, unsafeUniformIntDistribution, xoroshiro128plus } from 'pure-rand';
import { startHttpRecorder, type HttpRecorder } from '../helpers/http-recorder';
import { startWorkerProcess, type WorkerProcess } from '../helpers/processes';
import { writeConfig } from '../helpers/temporal';
import type { PersistentDevServer } from './temporal-server';

/** Seeded choices: the same seed gives the same kill schedule, pauses and inputs. */
export class Random {
  private readonly rng: RandomGenerator;
  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed);
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return unsafeUniformIntDistribution(min, max, this.rng);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

export interface RunContext {
  client: Client;
  taskQueue: string;
  /** This scenario's own seeded choices. */
  random: Random;
  /** A scratch folder of this scenario's. */
  dir: string;
  runs: number;
  /** The alert webhook every network of the run alerts (alerts carry their network's name). */
  webhook: HttpRecorder;
}

/** One procedure under chaos: its simulators, its runs and what must hold after each. */
export interface ChaosScenario {
  procedure: string;
  /** How many of its runs go on at once (each slot owns its own simulated target). */
  slots: number;
  /** Starts the simulators; returns the networks to add to the worker's configuration. */
  setup(context: RunContext): Promise<Record<string, object>>;
  /**
   * One run in `slot`: prepares the target, starts the procedure, plays any human part, waits for the end and
   * returns the invariants it found broken (empty when all hold). Throwing means the run did not complete.
   */
  run(slot: number, index: number, context: RunContext): Promise<string[]>;
  teardown(): Promise<void>;
}

export interface ProcedureFigures {
  procedure: string;
  runs: number;
  /** Worker SIGKILLs that landed while at least one of its runs was in progress. */
  kills: number;
  /** Runs in progress during at least one worker SIGKILL. */
  runsKilled: number;
  serverKills: number;
  completed: number;
  violations: string[];
  wallMs: number;
}

export interface ChaosOptions {
  runs: number;
  seed: number;
  /** SIGKILL the Temporal server this many times, at random moments. */
  serverKills: number;
  /** Pause between a worker's start and its SIGKILL, ms (uniform in the range). */
  killEveryMs: [number, number];
  /** Pause before a killed worker is started again (a supervisor's restart delay), ms. */
  restartAfterMs: [number, number];
  log: (line: string) => void;
}

export async function runChaos(
  scenarios: ChaosScenario[],
  server: PersistentDevServer,
  client: Client,
  baseDir: string,
  options: ChaosOptions,
): Promise<ProcedureFigures[]> {
  const taskQueue = `chaos-${randomUUID().slice(0, 8)}`;
  const webhook = await startHttpRecorder();
  const contexts = scenarios.map((scenario, i): RunContext => {
    const dir = path.join(baseDir, scenario.procedure);
    mkdirSync(dir, { recursive: true });
    return { client, taskQueue, random: new Random(options.seed + 1 + i), dir, runs: options.runs, webhook };
  });
  const networks: Record<string, object> = {};
  try {
    for (const [i, scenario] of scenarios.entries()) {
      options.log(`setting up ${scenario.procedure}`);
      Object.assign(networks, await scenario.setup(contexts[i]!));
    }
    const { file } = writeConfig(baseDir, { alerts: { webhooks: [{ name: 'chaos', url: webhook.url }] }, networks });
    const monkey = new WorkerMonkey(file, taskQueue, new Random(options.seed), options);
    const serverKills: number[] = [];
    const windows = new Map<string, { from: number; to: number }[]>();
    const figures = scenarios.map((scenario): ProcedureFigures => ({
      procedure: scenario.procedure,
      runs: 0,
      kills: 0,
      runsKilled: 0,
      serverKills: 0,
      completed: 0,
      violations: [],
      wallMs: 0,
    }));
    await monkey.start();
    let running = true;
    const serverChaos = (async () => {
      const random = new Random(options.seed ^ 0x5eed);
      for (let k = 0; k < options.serverKills && running; k++) {
        const at = Date.now() + random.int(10_000, 40_000);
        while (running && Date.now() < at) await sleep(250);
        if (!running) break;
        options.log('SIGKILL the Temporal server; start it again on its database');
        await server.kill();
        serverKills.push(Date.now());
        await sleep(random.int(500, 3000));
        await server.restart();
      }
    })();
    try {
      await Promise.all(
        scenarios.map(async (scenario, i) => {
          const context = contexts[i]!;
          const figure = figures[i]!;
          const runWindows: { from: number; to: number }[] = [];
          windows.set(scenario.procedure, runWindows);
          let next = 0;
          const slot = async (s: number) => {
            for (let index = next++; index < options.runs; index = next++) {
              // Staggered, so the kills land at different moments of different runs.
              await sleep(context.random.int(0, 2000));
              const from = Date.now();
              let problems: string[];
              let completed = true;
              try {
                problems = await scenario.run(s, index, context);
              } catch (err) {
                completed = false;
                problems = [`did not complete: ${describeError(err)}`];
              }
              const window = { from, to: Date.now() };
              runWindows.push(window);
              figure.runs++;
              if (completed) figure.completed++;
              const hits = monkey.killTimes.filter((t) => t >= window.from && t <= window.to).length;
              if (hits > 0) figure.runsKilled++;
              for (const p of problems) figure.violations.push(`run ${index + 1}: ${p}`);
              options.log(
                `  ${scenario.procedure} run ${index + 1}/${options.runs}: ${problems.length ? problems.join('; ') : 'ok'} (${hits} worker kills during the run, ${((window.to - window.from) / 1000).toFixed(1)} s)`,
              );
            }
          };
          await Promise.all(Array.from({ length: Math.min(scenario.slots, options.runs) }, (_, s) => slot(s)));
        }),
      );
    } finally {
      running = false;
      await monkey.stop();
      await serverChaos;
    }
    for (const figure of figures) {
      const runWindows = windows.get(figure.procedure) ?? [];
      const during = (t: number) => runWindows.some((w) => t >= w.from && t <= w.to);
      figure.kills = monkey.killTimes.filter(during).length;
      figure.serverKills = serverKills.filter(during).length;
      figure.wallMs = runWindows.length
        ? Math.max(...runWindows.map((w) => w.to)) - Math.min(...runWindows.map((w) => w.from))
        : 0;
    }
    for (const death of monkey.deaths) figures[0]!.violations.push(`the worker process ${death}`);
    return figures;
  } finally {
    for (const scenario of scenarios) await scenario.teardown().catch(() => undefined);
    await webhook.close();
  }
}

/** Keeps one worker process alive on the task queue and SIGKILLs it at random moments. */
class WorkerMonkey {
  readonly killTimes: number[] = [];
  /** Worker processes that exited without being killed. */
  readonly deaths: string[] = [];
  private worker?: WorkerProcess;
  private running = true;
  private loop?: Promise<void>;

  constructor(
    private readonly configFile: string,
    private readonly taskQueue: string,
    private readonly random: Random,
    private readonly options: ChaosOptions,
  ) {}

  async start(): Promise<void> {
    this.worker = await this.spawn();
    this.loop = this.chaos();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.worker?.kill('SIGKILL');
  }

  private spawn(): Promise<WorkerProcess> {
    return startWorkerProcess({ configFile: this.configFile, taskQueue: this.taskQueue, readyTimeoutMs: 120_000 });
  }

  private async chaos(): Promise<void> {
    while (this.running) {
      await this.pause(this.random.int(...this.options.killEveryMs));
      if (!this.running) return;
      await this.worker!.kill('SIGKILL');
      this.killTimes.push(Date.now());
      await sleep(this.random.int(...this.options.restartAfterMs));
      this.worker = await this.spawnUntilUp();
    }
  }

  /** Sleeps; a worker that exits by itself (it never should) is counted and started again. */
  private async pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.running && Date.now() < until) {
      await sleep(Math.min(250, until - Date.now()));
      const worker = this.worker!;
      if (this.running && (worker.child.exitCode !== null || worker.child.signalCode !== null)) {
        this.deaths.push(`exited ${worker.child.exitCode ?? worker.child.signalCode}: ${worker.output().slice(-500)}`);
        this.worker = await this.spawnUntilUp();
      }
    }
  }

  private async spawnUntilUp(): Promise<WorkerProcess> {
    // A worker may fail to start while the Temporal server is down: try again, as a supervisor would.
    for (;;) {
      try {
        return await this.spawn();
      } catch {
        await sleep(1000);
      }
    }
  }
}

/** A failed run's message with its causes (a workflow failure wraps the activity's, which wraps the cause). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as (Error & { cause?: unknown }) | undefined; e && parts.length < 4; e = e.cause as typeof e)
    parts.push(e.message.split('\n')[0]!);
  return parts.join(': ');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The run's result, riding out the Temporal server's restart (the client's calls fail while it is down).
 * Resolves with the result or rejects with the run's own failure.
 */
export async function resultOf<T>(handle: WorkflowHandle, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return (await handle.result()) as T;
    } catch (err) {
      if (!isTransient(err) || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** Retries a client call (query, update, describe) across a Temporal server restart. */
export async function retryTransient<T>(call: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isTransient(err) || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

function isTransient(err: unknown): boolean {
  const text = `${(err as Error)?.name} ${(err as Error)?.message}`;
  return /UNAVAILABLE|Unavailable|ECONNREFUSED|connection|DEADLINE_EXCEEDED|ServiceError|timed out|No connection/i.test(
    text,
  );
}

/** The table the runner prints. */
export function renderTable(rows: ProcedureFigures[]): string {
  const header = [
    'procedure',
    'runs',
    'kills',
    'runs killed',
    'server kills',
    'completed',
    'invariant violations',
    'wall time',
  ];
  const body = rows.map((r) => [
    r.procedure,
    String(r.runs),
    String(r.kills),
    String(r.runsKilled),
    String(r.serverKills),
    String(r.completed),
    String(r.violations.length),
    `${(r.wallMs / 1000).toFixed(0)} s`,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
