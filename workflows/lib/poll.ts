/**
 * Waiting on the outside world from a workflow: ask, sleep (a durable timer), ask again, until an answer
 * comes or the time is up. A failed probe counts as "not yet", and the last failure is named on timeout.
 */
import { ApplicationFailure, sleep } from '@temporalio/workflow';
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
