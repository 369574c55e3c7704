/**
 * Operator command templates such as `systemctl start cchost@{{node}}` or
 * `/opt/ccf/bin/cchost --config {{configFile}}`. Every substituted value is single-quoted for a POSIX shell,
 * so no value can ever add words, redirections or commands to the operator's template.
 */

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;

export class CommandTemplateError extends Error {
  override name = 'CommandTemplateError';
}

/** POSIX single-quote quoting: the only character needing care inside single quotes is the quote itself. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new CommandTemplateError('a command argument contains a NUL byte');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Names used in a template, in order of appearance. */
export function templateVariables(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
}

/**
 * Reasons a template is unusable, or [] when it is fine. A placeholder inside quotes is refused because the
 * value is quoted by us; quoting it again would split or mangle it.
 */
export function checkTemplate(template: string, allowed: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of templateVariables(template)) {
    if (!allowed.includes(name)) {
      problems.push(
        `unknown placeholder {{${name}}}; available: ${allowed.map((a) => `{{${a}}}`).join(', ') || 'none'}`,
      );
    }
  }
  let quote: "'" | '"' | undefined;
  let quotedPlaceholder = false;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (quote === undefined && c === '\\') {
      i++;
    } else if (quote === '"' && c === '\\') {
      i++;
    } else if (c === "'" || c === '"') {
      if (quote === undefined) quote = c;
      else if (quote === c) quote = undefined;
    } else if (quote !== undefined && c === '{' && template[i + 1] === '{') {
      quotedPlaceholder = true;
    }
  }
  if (quotedPlaceholder)
    problems.push('placeholders must not be inside quotes: ledger-dr quotes every substituted value itself');
  if (quote !== undefined) problems.push(`unbalanced ${quote} quote`);
  return problems;
}

/** Fills a template, quoting every value. Throws when a placeholder has no value, rather than running a half-command. */
export function renderCommand(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new CommandTemplateError(`no value for placeholder {{${name}}}`);
    return shellQuote(String(value));
  });
}
