/**
 * What the Corda node shell prints for `flow start`, read as upstream prints it (corda/corda-shell
 * `InteractiveShell.runFlowByNameFragment` and `utlities/ANSIProgressRenderer.kt`; ../shared/reference
 * corda/FACTS.md §0):
 *   - progress lines, then one line `Flow completed with result: ${returnValue}`: the value's Kotlin
 *     `toString()`, not YAML or JSON. Data classes print `Name(field=value, …)` with strings unquoted (an X.500
 *     name's commas included), lists `[a, b]`, `null`, and a Unit flow `kotlin.Unit`;
 *   - on failure, no result line: every message of the cause chain on its own line after `☠` (or `ERROR: `
 *     without Unicode), ANSI-coloured over SSH. A message names the exception class when the exception
 *     reached the shell as a CordaRuntimeException (`originalExceptionClassName: message`, corda/corda
 *     core `CordaRuntimeException.message`);
 *   - the shell's own refusals: `No matching flow found…`, `No matching constructor found:` with `- reason` lines.
 */

export type KotlinValue = null | boolean | number | string | KotlinValue[] | KotlinObject;
/** A data class: its class name in `$class` and its fields by name. */
export interface KotlinObject {
  $class: string;
  [field: string]: KotlinValue;
}

export type ShellFlowOutput =
  | { outcome: 'completed'; result: KotlinValue; text: string }
  | { outcome: 'failed'; exception: string; messages: string[] };

// eslint-disable-next-line no-control-regex -- ANSI escape sequences are what the shell sends over SSH
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
const RESULT = 'Flow completed with result:';
const ERROR_LINE = /^\s*(?:\u2620\uFE0F?|ERROR:)\s?(.*)$/u;
const EXCEPTION = /\b(?:[a-z_$][\w$]*\.)*([A-Z][\w$]*(?:Exception|Error))\b/g;
/** Wrappers around the exception that says what happened. */
const GENERIC = new Set([
  'CordaRuntimeException',
  'FlowException',
  'ExecutionException',
  'RuntimeException',
  'Exception',
]);

export function parseFlowOutput(raw: string): ShellFlowOutput {
  const output = raw.replace(ANSI, '').replace(/\r/g, '');
  const at = output.indexOf(RESULT);
  if (at >= 0) {
    const text = output.slice(at + RESULT.length).trim();
    return { outcome: 'completed', result: parseKotlinValue(text), text };
  }
  const messages = output
    .split('\n')
    .map((line) => ERROR_LINE.exec(line)?.[1]?.trim())
    .filter((m): m is string => !!m);
  if (messages.length) {
    const named = messages.flatMap((m) => [...m.matchAll(EXCEPTION)].map((x) => x[1]!));
    const exception = named.find((n) => !GENERIC.has(n)) ?? named[0] ?? 'FlowFailed';
    return { outcome: 'failed', exception, messages };
  }
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (/^No matching constructor found/.test(lines[0] ?? ''))
    return { outcome: 'failed', exception: 'NoMatchingConstructor', messages: lines };
  if (/^No matching flow found/.test(lines[0] ?? '') || /^Ambiguous name provided/.test(lines[0] ?? ''))
    return { outcome: 'failed', exception: 'NoMatchingFlow', messages: lines };
  return {
    outcome: 'failed',
    exception: 'UnexpectedOutput',
    messages: lines.length ? lines.slice(-5) : ['(no output)'],
  };
}

/** A Kotlin `toString()` as the shell prints it: data classes, lists, null/Unit, booleans, numbers, text. */
export function parseKotlinValue(input: string): KotlinValue {
  const text = input.trim();
  if (text === 'null' || text === 'kotlin.Unit' || text === '') return null;
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^-?\d{1,15}$/.test(text)) return Number(text);
  const quoted = /^(["'])([\s\S]*)\1$/.exec(text);
  if (quoted) return quoted[2]!;
  if (text.startsWith('[') && closes(text, 0) === text.length - 1) return parseList(text.slice(1, -1));
  const object = /^([A-Z][\w$.]*)\(/.exec(text);
  if (object && closes(text, object[0].length - 1) === text.length - 1)
    return parseObject(object[1]!, text.slice(object[0].length, -1));
  return text;
}

/** Where the bracket opened at `open` closes (nesting of (), [] and {}), or -1. */
function closes(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') if (--depth === 0) return i;
  }
  return -1;
}

/** `text` cut at the top-level positions `boundary` accepts (it returns how many characters the cut takes). */
function splitTop(text: string, boundary: (rest: string) => number): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0) {
      const cut = boundary(text.slice(i));
      if (cut > 0) {
        parts.push(text.slice(start, i));
        start = i + cut;
        i += cut - 1;
      }
    }
  }
  parts.push(text.slice(start));
  return parts;
}

const FIELD = /^[a-z][A-Za-z0-9_]*=/;

function parseObject(className: string, body: string): KotlinObject {
  const object: KotlinObject = { $class: className.split('.').pop()! };
  if (!body.trim()) return object;
  // A field starts at `, name=` (lowerCamelCase: X.500 attributes such as `L=` are upper case). Some of
  // upstream's doc examples drop the comma after a quoted value; such a gap counts as the comma.
  const fields = splitTop(body.replace(/(["'])\s+(?=[a-z][A-Za-z0-9_]*=)/g, '$1, '), (rest) => {
    const m = /^,\s*(?=[a-z][A-Za-z0-9_]*=)/.exec(rest);
    return m ? m[0].length : 0;
  });
  for (const field of fields) {
    const eq = field.indexOf('=');
    if (!FIELD.test(field.trimStart()) || eq < 0) continue;
    object[field.slice(0, eq).trim()] = parseKotlinValue(field.slice(eq + 1));
  }
  return object;
}

function parseList(body: string): KotlinValue[] {
  if (!body.trim()) return [];
  const items = splitTop(body, (rest) => (rest.startsWith(', ') ? 2 : rest.startsWith(',') ? 1 : 0)).map((s) =>
    s.trim(),
  );
  // A list of X.500 names prints as one run of `O=…, L=…, C=…`: a repeated attribute starts the next name.
  if (items.every((i) => /^[A-Z]{1,2}=/.test(i))) {
    const names: string[][] = [];
    for (const item of items) {
      const key = item.slice(0, item.indexOf('='));
      const current = names.at(-1);
      if (!current || current.some((a) => a.startsWith(`${key}=`))) names.push([item]);
      else current.push(item);
    }
    return names.map((n) => n.join(', '));
  }
  return items.map(parseKotlinValue);
}
