/**
 * Starting a procedure from a client (demo, tests, and later the API and CLI). The workflow id is derived
 * from the network, and Temporal is told to fail a second start while the first runs, so two recoveries can
 * never drive the same network at once.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { PROCEDURES, procedureWorkflowId } from '../contracts/procedures';

type ProcedureKey = keyof typeof PROCEDURES;

export class ProcedureAlreadyRunningError extends Error {
  override name = 'ProcedureAlreadyRunningError';
  constructor(
    readonly procedure: string,
    readonly network: string,
    readonly workflowId: string,
    readonly runId: string | undefined,
  ) {
    super(
      `a ${procedure} of network "${network}" is already running (workflow ${workflowId}${runId ? `, run ${runId}` : ''}); ` +
        'follow it, or cancel it before starting another',
    );
  }
}

export async function startProcedure(
  client: Client,
  options: {
    procedure: ProcedureKey;
    network: string;
    taskQueue: string;
    input: object;
    memo?: Record<string, unknown>;
  },
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const { name, workflowType } = PROCEDURES[options.procedure];
  const workflowId = procedureWorkflowId(name, options.network);
  try {
    return await client.workflow.start(workflowType, {
      taskQueue: options.taskQueue,
      workflowId,
      args: [{ ...options.input, network: options.network }],
      // A finished run does not block the next one; a running one does.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      ...(options.memo ? { memo: options.memo } : {}),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      throw new ProcedureAlreadyRunningError(name, options.network, workflowId, running?.runId);
    }
    throw err;
  }
}
