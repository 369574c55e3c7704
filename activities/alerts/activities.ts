/**
 * Alerts to the operator's webhooks. Each delivery carries an Idempotency-Key that is stable across
 * retries (it is chosen by the workflow), so a worker that dies after sending and is retried does not page
 * anyone twice at a receiver that honours the key.
 */
import { ApplicationFailure } from '@temporalio/common';
import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import type { LedgerDrConfig } from '../../shared/config';
import { readSecret } from '../../shared/secrets';
import { withHeartbeats } from '../heartbeat';
import { invalidInput, parseInput } from '../errors';

export interface Alert {
  network: string;
  procedure: string;
  severity: 'info' | 'warning' | 'critical';
  summary: string;
  details: string[];
  /** Link to the run, when the sender knows one. */
  runUrl?: string;
}

const alertInput = z.strictObject({
  webhook: z.string().min(1),
  idempotencyKey: z.string().min(8).max(512),
  alert: z.strictObject({
    network: z.string(),
    procedure: z.string(),
    severity: z.enum(['info', 'warning', 'critical']),
    summary: z.string().max(1000),
    details: z.array(z.string().max(2000)).max(1000),
    runUrl: z.string().optional(),
  }),
});

export function createAlertActivities(deps: { config: LedgerDrConfig; http?: AxiosInstance }) {
  const http = deps.http ?? axios.create({ timeout: 10_000, maxRedirects: 0 });
  return {
    async sendAlert(input: { webhook: string; idempotencyKey: string; alert: Alert }): Promise<{ status: number }> {
      const args = parseInput(alertInput, input);
      const index = deps.config.alerts.webhooks.findIndex((w) => w.name === args.webhook);
      const webhook = deps.config.alerts.webhooks[index];
      if (!webhook) throw invalidInput(`input.webhook: no alert webhook named "${args.webhook}" in alerts.webhooks`);
      const token = webhook.token ? await readSecret(webhook.token, `alerts.webhooks[${index}].token`) : undefined;
      const response = await withHeartbeats((signal) =>
        http.post(
          webhook.url,
          { source: 'ledger-dr', ...args.alert },
          {
            headers: {
              'content-type': 'application/json',
              'idempotency-key': args.idempotencyKey,
              ...(token ? { authorization: `Bearer ${token.reveal()}` } : {}),
            },
            validateStatus: () => true,
            signal,
          },
        ),
      );
      if (response.status >= 200 && response.status < 300) return { status: response.status };
      const message = `alert webhook "${webhook.name}" answered HTTP ${response.status}`;
      // 4xx other than timeouts and rate limits means our request or credentials are wrong: retrying won't help.
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        throw ApplicationFailure.nonRetryable(`${message}; check its URL and token`, 'AlertRejected');
      }
      throw ApplicationFailure.retryable(message, 'AlertDeliveryFailed');
    },
  };
}
