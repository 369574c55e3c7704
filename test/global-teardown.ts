import { Runtime } from '@temporalio/worker';
import type { DevServer } from '../shared/dev-server';

export default async function globalTeardown(): Promise<void> {
  const server = (globalThis as Record<string, unknown>).__ledgerDrDevServer as DevServer | undefined;
  await server?.env.teardown();
  // The native runtime keeps Jest's main process alive otherwise.
  await Runtime.instance().shutdown();
}
