import { execFileSync } from 'node:child_process';
import { checkTemplate, CommandTemplateError, renderCommand, shellQuote } from '../../shared/command-template';

/** What a real POSIX shell makes of a rendered command: its argv, one per line. */
function argvFromShell(command: string): string[] {
  return execFileSync('/bin/sh', ['-c', `set -- ${command}; for a; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' })
    .split('\0')
    .slice(0, -1);
}

describe('command templates', () => {
  it.each([
    ['plain'],
    ["it's"],
    ['a b  c'],
    ['$(touch /tmp/pwned)'],
    ['`id`'],
    ['x; rm -rf /'],
    ['"double" \\back\\slash'],
    ['new\nline'],
    ['*'],
    [''],
  ])('passes %j through a real shell as exactly one argument', (value) => {
    expect(argvFromShell(renderCommand('{{node}}', { node: value }))).toEqual([value]);
  });

  it('renders every placeholder and leaves the rest of the template alone', () => {
    expect(renderCommand('systemctl start cchost@{{node}} --net {{ network }}', { node: 'n0', network: 'prod' })).toBe(
      "systemctl start cchost@'n0' --net 'prod'",
    );
  });

  it('refuses to render with a value missing', () => {
    expect(() => renderCommand('stop {{node}}', {})).toThrow(CommandTemplateError);
  });

  it('refuses NUL bytes', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });

  it('finds unknown and quoted placeholders', () => {
    expect(checkTemplate('start {{node}}', ['node'])).toEqual([]);
    expect(checkTemplate('start {{nod}}', ['node'])).toEqual(['unknown placeholder {{nod}}; available: {{node}}']);
    expect(checkTemplate(`echo "{{node}}"`, ['node'])).toEqual([
      'placeholders must not be inside quotes: ledger-dr quotes every substituted value itself',
    ]);
    expect(checkTemplate(`echo 'x' {{node}} "y"`, ['node'])).toEqual([]);
    expect(checkTemplate(`echo 'x`, ['node'])).toEqual(["unbalanced ' quote"]);
  });
});
