/**
 * The one report type every procedure returns. Workflows build it as they go (deterministically, from
 * workflow time), queries expose it while a run is in progress, and the API renders it.
 */

export type StepOutcome = 'succeeded' | 'failed' | 'skipped';

export interface StepRecord {
  name: string;
  title: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  outcome?: StepOutcome;
  detail?: string;
}

export interface DecisionRecord {
  at: string;
  decision: string;
  reason: string;
}

export interface OperatorActionRecord {
  at: string;
  actor: string;
  action: string;
  detail?: string;
}

export interface BackupRecord {
  what: string;
  location: string;
  bytes?: number;
  sha256?: string;
}

export interface ProcedureReport {
  procedure: string;
  network: string;
  workflowId: string;
  runId: string;
  outcome: 'in-progress' | 'succeeded' | 'failed';
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  steps: StepRecord[];
  decisions: DecisionRecord[];
  operatorActions: OperatorActionRecord[];
  backups: BackupRecord[];
  /** Findings worth a line of their own (a node that never answered, a share that failed). */
  notes: string[];
  failure?: string;
}
