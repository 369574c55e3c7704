import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { LedgerDrConfig } from '../../shared/config';

/** What the demo runs: the simulators it needs, the configuration pointing at them, and the workflow. */
export interface PreparedScenario {
  config: LedgerDrConfig;
  /** Lines describing what was started, for the console. */
  describe(): string[];
  stop(): Promise<void>;
  /** Puts the simulated network back into the state the demo starts from; says what it did. */
  resetForNextRun?(): Promise<string>;
}

export interface DemoScenario<Result = unknown> {
  title: string;
  prepare(dataDir: string): Promise<PreparedScenario>;
  start(client: Client, taskQueue: string): Promise<WorkflowHandleWithFirstExecutionRunId>;
  /** The result, as lines for the console. */
  summarise(result: Result): string[];
}
