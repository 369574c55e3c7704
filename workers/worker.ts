/**
 * Builds the ledger-dr worker: every workflow and every activity on one task queue. Used by the worker
 * process, the demo and the tests, so all three run the same registration.
 */
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { heartbeatWhileRunning } from '../activities/heartbeat';

export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface LedgerWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A pre-built workflow bundle (tests build one and share it); bundled from source when absent. */
  workflowBundlePath?: string;
  identity?: string;
  /** Encrypting data converter (`createDataConverter`); plaintext when absent. */
  dataConverter?: DataConverter;
  tuning?: Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxCachedWorkflows'>;
  /**
   * `all` (default) runs workflows and activities; `workflows` and `activities` split them over two processes
   * on the same task queue, so the process streaming gigabytes of dumps carries no workflow cache and the one
   * holding the workflow cache never streams.
   */
  role?: WorkerRole;
}

export const WORKER_ROLES = ['all', 'workflows', 'activities'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

export async function createLedgerWorker(options: LedgerWorkerOptions): Promise<Worker> {
  const role = options.role ?? 'all';
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.identity ? { identity: options.identity } : {}),
    ...(role !== 'workflows'
      ? { activities: createActivities(options.deps), interceptors: { activity: [heartbeatWhileRunning] } }
      : {}),
    ...(options.dataConverter ? { dataConverter: forBundle(options.dataConverter, options.workflowBundlePath) } : {}),
    ...(role === 'activities'
      ? {}
      : options.workflowBundlePath
        ? { workflowBundle: { codePath: options.workflowBundlePath } }
        : { workflowsPath: WORKFLOWS_PATH }),
    // After a worker dies, its runs' next tasks wait on its sticky queue for this long before any other
    // worker may take them. Recovery runs are short histories, so a cache miss costs little; a stall costs
    // the operator time on their worst day.
    stickyQueueScheduleToStartTimeout: '3s',
    ...options.tuning,
  });
}

/** A pre-built bundle already contains the failure converter (bundleWorkflowCode's failureConverterPath). */
function forBundle(converter: DataConverter, bundlePath: string | undefined): DataConverter {
  if (!bundlePath) return converter;
  const { failureConverterPath: _bundled, ...rest } = converter;
  return rest;
}
