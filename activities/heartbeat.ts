import { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** How often a running activity tells Temporal its worker is alive (the SDK batches them under the timeout). */
const HEARTBEAT_EVERY_MS = 1000;

/** Activities inside `withHeartbeats`, which send their own heartbeats (with progress details). */
const selfHeartbeating = new WeakSet<Context>();

/**
 * Heartbeats while `work` runs, so a worker that dies mid-call is noticed within the heartbeat timeout
 * rather than the whole start-to-close timeout, and hands `work` the activity's cancellation signal.
 * `details` (progress shown in the Temporal UI) rides on every heartbeat.
 * Outside an activity (unit tests, scripts) it just runs `work`.
 */
export async function withHeartbeats<T>(
  work: (signal: AbortSignal | undefined) => Promise<T>,
  details?: () => unknown,
  intervalMs = HEARTBEAT_EVERY_MS,
): Promise<T> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    context = undefined;
  }
  if (!context) return work(undefined);
  const ctx = context;
  const nested = selfHeartbeating.has(ctx);
  selfHeartbeating.add(ctx);
  ctx.heartbeat(details?.());
  const timer = setInterval(() => ctx.heartbeat(details?.()), intervalMs);
  try {
    return await work(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
    if (!nested) selfHeartbeating.delete(ctx);
  }
}

/**
 * Every activity heartbeats while it runs, whatever it does, so every activity option in the workflows can
 * carry a short heartbeat timeout: after a worker dies, each of its activities is retried elsewhere within
 * that timeout instead of waiting out its start-to-close timeout (minutes, for some).
 */
export const heartbeatWhileRunning: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const timer = setInterval(() => {
        if (!selfHeartbeating.has(ctx)) ctx.heartbeat();
      }, HEARTBEAT_EVERY_MS);
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  },
});

/** The attempt number of the running activity (1 outside an activity): names per-attempt partial files. */
export function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}
