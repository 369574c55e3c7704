/**
 * Waiting on the outside world from a workflow: ask, sleep (a durable timer), ask again, until an answer
 * comes or the time is up. A failed probe counts as "not yet", and the last failure is named on timeout.
 */
import { ApplicationFailure, condition, patched, sleep } from '@temporalio/workflow';
import { failureMessage } from './procedure';

export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const value = await probe().catch((err: unknown) => {
      last = failureMessage(err);
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw ApplicationFailure.nonRetryable(
        `${what}: not reached after ${options.timeoutMs / 1000}s (last: ${last})`,
        'TimedOut',
      );
    }
    await sleep(options.intervalMs);
  }
}

/**
 * `condition(fn, timeoutMs)` for waits that an update ends (an approval, an archive, parameters), except that
 * its timer is never cancelled. An update can arrive in the very workflow task that starts the wait; a timer
 * started and cancelled within one task leaves nothing in history, and a worker that later replays that
 * history cold can meet the timer where history has the update (TMPRL1100, found by the chaos runner). A
 * timer that just runs out replays the same way every time. Runs started before this change keep the old way.
 */
export async function conditionWithin(fn: () => boolean, timeoutMs: number): Promise<boolean> {
  if (!patched('waits-keep-their-timer')) return condition(fn, timeoutMs);
  if (fn()) return true;
  let timedOut = false;
  // The timer carries the run's cancellation: a cancelled run stops waiting, as with condition's own timer.
  let cancelled: unknown;
  void sleep(timeoutMs).then(
    () => (timedOut = true),
    (err: unknown) => (cancelled = err ?? new Error('cancelled')),
  );
  await condition(() => fn() || timedOut || cancelled !== undefined);
  if (!fn() && cancelled !== undefined) throw cancelled;
  return fn();
}
