/**
 * How every ledger-dr process (worker, demo, API, CLI) reaches Temporal. Connection settings come from the
 * standard variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*) or a Temporal
 * CLI profile, through the SDK's own envconfig, so the same worker runs against a dev server or a cluster.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { LEDGER_DR_SEARCH_ATTRIBUTES } from '../contracts/search-attributes';

export const DEFAULT_TASK_QUEUE = 'ledger-dr';

export interface TemporalSettings {
  connection: NativeConnectionOptions;
  namespace: string;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const loaded = loadClientConnectConfig({
    overrideEnvVars: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
  });
  return {
    connection: { ...loaded.connectionOptions, address: loaded.connectionOptions.address ?? 'localhost:7233' },
    namespace: loaded.namespace ?? 'default',
  };
}

/** LEDGER_DR_TASK_QUEUE wins over the configuration file, so tests and blue/green workers can use their own queue. */
export function taskQueue(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return env.LEDGER_DR_TASK_QUEUE ?? configured ?? DEFAULT_TASK_QUEUE;
}

interface OperatorServiceLike {
  listSearchAttributes(req: { namespace: string }): Promise<{ customAttributes?: Record<string, unknown> | null }>;
  addSearchAttributes(req: { namespace: string; searchAttributes: Record<string, number> }): Promise<unknown>;
}

/**
 * Registers ledger-dr's search attributes when they are missing (a fresh cluster from docker-compose).
 * Returns what it could not do, so the caller can warn: on a managed cluster the worker often lacks the
 * permission, and an administrator runs `temporal operator search-attribute create` instead.
 */
export async function ensureSearchAttributes(
  operatorService: OperatorServiceLike,
  namespace: string,
): Promise<{ added: string[]; problem?: string }> {
  try {
    const existing = (await operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
    const missing = LEDGER_DR_SEARCH_ATTRIBUTES.filter((key) => !(key.name in existing));
    if (missing.length === 0) return { added: [] };
    // 2 is INDEXED_VALUE_TYPE_KEYWORD in Temporal's API.
    await operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, 2])),
    });
    return { added: missing.map((key) => key.name) };
  } catch (err) {
    const flags = LEDGER_DR_SEARCH_ATTRIBUTES.map((k) => `--name ${k.name} --type Keyword`).join(' ');
    return {
      added: [],
      problem: `could not register search attributes (${(err as Error).message}); ask an administrator to run: temporal operator search-attribute create --namespace ${namespace} ${flags}`,
    };
  }
}
