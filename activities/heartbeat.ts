import { Context } from '@temporalio/activity';

/**
 * Heartbeats while `work` runs, so a worker that dies mid-call is noticed within the heartbeat timeout
 * rather than the whole start-to-close timeout, and hands `work` the activity's cancellation signal.
 * Outside an activity (unit tests, scripts) it just runs `work`.
 */
export async function withHeartbeats<T>(
  work: (signal: AbortSignal | undefined) => Promise<T>,
  details?: () => unknown,
  intervalMs = 1000,
): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    context = undefined;
  }
  if (!context) return work(undefined);
  const ctx = context;
  ctx.heartbeat(details?.());
  const timer = setInterval(() => ctx.heartbeat(details?.()), intervalMs);
  try {
    return await work(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}

/** The attempt number of the running activity (1 outside an activity): names per-attempt partial files. */
export function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}
