/**
 * The one report every procedure returns, rendered for people: Markdown for tickets and chat, HTML for a
 * browser or an audit file. Every value is escaped; nothing in a report is trusted markup.
 */
import type { ProcedureReport } from '../contracts/report';

const seconds = (ms?: number) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);

function mdCell(value: unknown): string {
  return String(value ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
}

export function reportToMarkdown(report: ProcedureReport): string {
  const lines = [
    `# ${report.procedure} of ${report.network}: ${report.outcome}`,
    '',
    `- Run: \`${report.workflowId}\` / \`${report.runId}\``,
    `- Started: ${report.startedAt}`,
    `- Ended: ${report.endedAt ?? 'in progress'}`,
    `- Recovery time: ${seconds(report.durationMs)}`,
  ];
  if (report.failure) lines.push(`- Failure: ${mdCell(report.failure)}`);
  lines.push(
    '',
    '## Steps',
    '',
    '| Step | Outcome | Started | Ended | Duration | Detail |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const s of report.steps) {
    lines.push(
      `| ${mdCell(s.title)} | ${s.outcome ?? 'running'} | ${s.startedAt} | ${s.endedAt ?? ''} | ${seconds(s.durationMs)} | ${mdCell(s.detail)} |`,
    );
  }
  lines.push('', '## Decisions', '');
  for (const d of report.decisions) lines.push(`- ${d.at}: **${mdCell(d.decision)}** — ${mdCell(d.reason)}`);
  if (report.decisions.length === 0) lines.push('- none');
  lines.push('', '## Operator actions', '');
  for (const a of report.operatorActions) {
    lines.push(`- ${a.at}: ${mdCell(a.actor)} ${mdCell(a.action)}${a.detail ? ` (${mdCell(a.detail)})` : ''}`);
  }
  if (report.operatorActions.length === 0) lines.push('- none');
  lines.push('', '## Backups', '');
  for (const b of report.backups) {
    lines.push(
      `- ${mdCell(b.what)} → \`${mdCell(b.location)}\`${b.bytes !== undefined ? `, ${b.bytes} bytes` : ''}${b.sha256 ? `, sha256 ${b.sha256}` : ''}`,
    );
  }
  if (report.backups.length === 0) lines.push('- none');
  if (report.notes.length) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${mdCell(n)}`));
  return `${lines.join('\n')}\n`;
}

const escape = (value: unknown) =>
  String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

function table(headers: string[], rows: unknown[][]): string {
  if (rows.length === 0) return '<p>none</p>';
  return `<table><thead><tr>${headers.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function reportToHtml(report: ProcedureReport): string {
  const title = `${report.procedure} of ${report.network}: ${report.outcome}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem}table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}.outcome-succeeded{color:#146c2e}.outcome-failed{color:#b3261e}</style>
</head><body>
<h1>${escape(report.procedure)} of ${escape(report.network)}: <span class="outcome-${escape(report.outcome)}">${escape(report.outcome)}</span></h1>
<dl><dt>Run</dt><dd><code>${escape(report.workflowId)}</code> / <code>${escape(report.runId)}</code></dd>
<dt>Started</dt><dd>${escape(report.startedAt)}</dd><dt>Ended</dt><dd>${escape(report.endedAt ?? 'in progress')}</dd>
<dt>Recovery time</dt><dd>${escape(seconds(report.durationMs))}</dd>${report.failure ? `<dt>Failure</dt><dd>${escape(report.failure)}</dd>` : ''}</dl>
<h2>Steps</h2>${table(
    ['Step', 'Outcome', 'Started', 'Ended', 'Duration', 'Detail'],
    report.steps.map((s) => [
      s.title,
      s.outcome ?? 'running',
      s.startedAt,
      s.endedAt ?? '',
      seconds(s.durationMs),
      s.detail ?? '',
    ]),
  )}
<h2>Decisions</h2>${table(
    ['At', 'Decision', 'Reason'],
    report.decisions.map((d) => [d.at, d.decision, d.reason]),
  )}
<h2>Operator actions</h2>${table(
    ['At', 'Who', 'Action', 'Detail'],
    report.operatorActions.map((a) => [a.at, a.actor, a.action, a.detail ?? '']),
  )}
<h2>Backups</h2>${table(
    ['What', 'Where', 'Bytes', 'SHA-256'],
    report.backups.map((b) => [b.what, b.location, b.bytes ?? '', b.sha256 ?? '']),
  )}
${report.notes.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${escape(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
