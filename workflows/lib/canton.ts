/** What the Canton/Splice procedures share: waiting for the validator app to come up or go down. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, ValidatorProbe } from '../../activities';
import { pollUntil } from './poll';

// Polled: "not ready yet" is an answer, so one attempt each.
const { probeCantonValidator } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 1 },
});

/** Until the validator's readiness endpoint answers (`ready`) or stops answering (`down`). */
export function waitForValidator(
  network: string,
  wanted: 'ready' | 'down',
  options: { timeoutMs: number; intervalMs: number },
): Promise<ValidatorProbe> {
  return pollUntil(
    `the validator ${wanted}`,
    async () => {
      const probe = await probeCantonValidator({ network });
      return probe.ready === (wanted === 'ready') ? probe : undefined;
    },
    options,
  );
}
