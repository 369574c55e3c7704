/**
 * What a running procedure tells its clients: the `status` and `report` queries every workflow answers.
 */
import { defineQuery } from '@temporalio/workflow';
import type { ProcedureReport } from './report';

export interface Awaiting {
  /** What the run needs ("approval to proceed", "recovery shares (2 of 3)"). */
  what: string;
  /** Who can provide it ("any operator", "members m0, m1"). */
  from: string;
  since: string;
}

export interface ProcedureStatus {
  procedure: string;
  network: string;
  phase: string;
  awaiting: Awaiting[];
  /** Procedure-specific progress (per-node states, shares submitted…), shown while the run is in progress. */
  progress?: unknown;
  report: ProcedureReport;
}

export const statusQuery = defineQuery<ProcedureStatus>('status');
export const reportQuery = defineQuery<ProcedureReport>('report');
