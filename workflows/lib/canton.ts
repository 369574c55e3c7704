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

/**
 * Which procedure recovers a validator from a broken global synchronizer on a Splice release. The data
 * snapshot (`/v0/admin/domain/data-snapshot`, hard domain migrations) is unsupported from 0.6.2 (its release
 * notes) and its endpoint was removed on main (#5744, 0.6.7); from 0.6.2 the guide's procedure is a
 * roll-forward Logical Synchronizer Upgrade (guides/splice-validator-disaster-recovery-0.7.rst).
 */
export function networkRecoveryFor(release: string): {
  workflowType: 'cantonNetworkRecovery' | 'cantonLsuRecovery';
  why: string;
} {
  const [major = 0, minor = 0, patch = 0] = release.split('.').map(Number);
  const before062 = major === 0 && (minor < 6 || (minor === 6 && patch < 2));
  return before062
    ? { workflowType: 'cantonNetworkRecovery', why: `Splice ${release} recovers from a data snapshot (before 0.6.2)` }
    : {
        workflowType: 'cantonLsuRecovery',
        why: `Splice ${release} recovers by a roll-forward Logical Synchronizer Upgrade (data-snapshot recovery is unsupported from 0.6.2)`,
      };
}
