/**
 * The Temporal runtime of a worker process: its logs go through pino (JSON, secrets redacted) and its
 * metrics are served for Prometheus.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

export function installRuntime(options: { logger: Logger; metricsAddress?: string; handleSignals: boolean }): void {
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      options.logger[LEVELS[entry.level]]({ ...entry.meta }, entry.message);
    }),
    telemetryOptions: options.metricsAddress
      ? { metrics: { prometheus: { bindAddress: options.metricsAddress } } }
      : undefined,
    // The worker shuts down gracefully on these: in-flight activities finish or are handed back.
    shutdownSignals: options.handleSignals ? ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2'] : [],
  });
}
