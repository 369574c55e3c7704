/**
 * What every procedure shares: its report (built from workflow time, so it is deterministic), its phase
 * (a search attribute, so the UI can list runs by phase), what it is waiting for and from whom, and the
 * queries that expose all of it while the run is in progress.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { metricMeter, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ProcedureReport, StepRecord } from '../../contracts/report';
import { reportQuery, statusQuery, type Awaiting } from '../../contracts/status';
import { NETWORK_ATTRIBUTE, PHASE_ATTRIBUTE, PROCEDURE_ATTRIBUTE } from '../../contracts/search-attributes';

const now = () => new Date(Date.now()).toISOString();

export class Procedure {
  readonly report: ProcedureReport;
  private phase = 'starting';
  private awaiting: Awaiting[] = [];
  private progress: unknown;
  private readonly meter: ReturnType<typeof metricMeter.withTags>;

  constructor(
    readonly procedure: string,
    readonly network: string,
  ) {
    const info = workflowInfo();
    this.report = {
      procedure,
      network,
      workflowId: info.workflowId,
      runId: info.runId,
      outcome: 'in-progress',
      startedAt: now(),
      steps: [],
      decisions: [],
      operatorActions: [],
      backups: [],
      notes: [],
    };
    setHandler(reportQuery, () => this.report);
    setHandler(statusQuery, () => ({
      procedure: this.procedure,
      network: this.network,
      phase: this.phase,
      awaiting: this.awaiting,
      progress: this.progress,
      report: this.report,
    }));
    // Emitted on the worker's Prometheus endpoint; the SDK does not emit them again when a run is replayed.
    this.meter = metricMeter.withTags({ procedure, network });
    if (info.attempt === 1 && !info.continuedFromExecutionRunId) {
      this.meter.createCounter('ledger_dr_runs_started', 'runs', 'Procedure runs started').add(1);
    }
    upsertSearchAttributes([
      { key: NETWORK_ATTRIBUTE, value: network },
      { key: PROCEDURE_ATTRIBUTE, value: procedure },
      { key: PHASE_ATTRIBUTE, value: this.phase },
    ]);
  }

  setPhase(phase: string): void {
    if (phase === this.phase) return;
    this.phase = phase;
    upsertSearchAttributes([{ key: PHASE_ATTRIBUTE, value: phase }]);
  }

  /** What the status query shows as progress; pass the same object again after changing it, or a new one. */
  setProgress(progress: unknown): void {
    this.progress = progress;
  }

  get currentPhase(): string {
    return this.phase;
  }

  isAwaiting(what: string): boolean {
    return this.awaiting.some((a) => a.what === what);
  }

  /** Runs one runbook step, recording when it started and ended and how it went. */
  async step<T>(name: string, title: string, work: () => Promise<T>, describe?: (result: T) => string): Promise<T> {
    this.setPhase(name);
    const record: StepRecord = { name, title, startedAt: now() };
    this.report.steps.push(record);
    try {
      const result = await work();
      this.endStep(record, 'succeeded', describe?.(result));
      return result;
    } catch (err) {
      this.endStep(record, 'failed', failureMessage(err));
      throw err;
    }
  }

  skip(name: string, title: string, reason: string): void {
    const at = now();
    this.report.steps.push({
      name,
      title,
      startedAt: at,
      endedAt: at,
      durationMs: 0,
      outcome: 'skipped',
      detail: reason,
    });
  }

  decide(decision: string, reason: string): void {
    this.report.decisions.push({ at: now(), decision, reason });
  }

  operatorAction(actor: string, action: string, detail?: string): void {
    this.report.operatorActions.push({ at: now(), actor, action, detail });
  }

  note(text: string): void {
    this.report.notes.push(text);
  }

  await(what: string, from: string): void {
    this.awaiting.push({ what, from, since: now() });
  }

  received(what: string): void {
    this.awaiting = this.awaiting.filter((a) => a.what !== what);
  }

  succeed(): ProcedureReport {
    this.finish('succeeded');
    this.setPhase('completed');
    return this.report;
  }

  /** Records the failure and returns the error to throw, so the run fails with a readable message. */
  fail(err: unknown): unknown {
    this.finish('failed', failureMessage(err));
    this.setPhase('failed');
    return err;
  }

  private finish(outcome: 'succeeded' | 'failed', failure?: string): void {
    this.report.outcome = outcome;
    this.report.endedAt = now();
    this.report.durationMs = Date.parse(this.report.endedAt) - Date.parse(this.report.startedAt);
    if (failure) this.report.failure = failure;
    this.awaiting = [];
    this.meter.createCounter(`ledger_dr_runs_${outcome}`, 'runs', `Procedure runs ${outcome}`).add(1);
    this.meter
      .createHistogram('ledger_dr_run_duration', 'float', 's', 'Procedure run duration, start to end')
      .record(this.report.durationMs / 1000, { outcome });
  }

  private endStep(record: StepRecord, outcome: StepRecord['outcome'], detail?: string): void {
    record.endedAt = now();
    record.durationMs = Date.parse(record.endedAt) - Date.parse(record.startedAt);
    record.outcome = outcome;
    if (detail) record.detail = detail;
  }
}

/** The innermost meaningful message: activity failures wrap the error that explains them. */
export function failureMessage(err: unknown): string {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

/**
 * Activity failures that are not worth retrying (bad input, refused preconditions) end the workflow with the
 * activity's own message; anything else is rethrown unchanged.
 */
export function asWorkflowFailure(err: unknown): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
    return ApplicationFailure.create({
      message: err.cause.message,
      type: err.cause.type ?? undefined,
      nonRetryable: true,
      details: err.cause.details ?? undefined,
    });
  }
  return err;
}

/**
 * A name for this run's files and folders: its start time (sortable, readable) and the random tail of its
 * run id (two runs started in the same second still differ). Deterministic on replay.
 */
export function runStamp(): string {
  const info = workflowInfo();
  const time = info.startTime
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${time}-${info.runId.replace(/-/g, '').slice(-8)}`;
}
