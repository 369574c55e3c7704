/** Console progress of a run, from its status query: each step as it starts and ends. */
import type { WorkflowHandle } from '@temporalio/client';
import { statusQuery, type ProcedureStatus } from '../contracts/status';

const seconds = (ms?: number) => `${((ms ?? 0) / 1000).toFixed(2)} s`;

export async function printProgress(handle: WorkflowHandle, intervalMs: number): Promise<string> {
  const printed = new Map<string, string>();
  let lastAwaiting = '';
  for (;;) {
    const description = await handle.describe();
    let status: ProcedureStatus | undefined;
    try {
      status = await handle.query(statusQuery);
    } catch {
      // The first workflow task has not run yet, or the run ended before registering its queries.
    }
    for (const step of status?.report.steps ?? []) {
      const key = `${step.name}@${step.startedAt}`;
      const state = step.outcome ?? 'running';
      if (printed.get(key) === state) continue;
      if (state === 'running') console.log(`  ▶ ${step.title}…`);
      else {
        const mark = state === 'succeeded' ? '✔' : state === 'skipped' ? '·' : '✘';
        console.log(`  ${mark} ${step.title} (${seconds(step.durationMs)})${step.detail ? ` — ${step.detail}` : ''}`);
      }
      printed.set(key, state);
    }
    const awaiting = (status?.awaiting ?? []).map((a) => `${a.what} from ${a.from}`).join('; ');
    if (awaiting && awaiting !== lastAwaiting) console.log(`  ⏸ waiting for ${awaiting}`);
    lastAwaiting = awaiting;
    if (description.status.name !== 'RUNNING') return description.status.name.toLowerCase();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function printReport(lines: string[]): void {
  console.log('\nResult:');
  for (const line of lines) console.log(`  ${line}`);
}
