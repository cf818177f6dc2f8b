/**
 * Decisions on the plugin file itself: its execute bit and its #! line. Pure: the facts
 * are gathered by observe.ts.
 */
import { fail, pass, type RuleResult } from './rules.ts';

/** What the start of the file says about how it runs. */
export type ShebangFacts =
  | { kind: 'binary' }
  | {
      kind: 'script';
      /** The first line, without its newline (a `\r` stays); null for an empty file. */
      firstLine: string | null;
      /** The program the #! line needs (`bash` for `#!/usr/bin/env bash`), when there is one. */
      program: string | null;
      /** Where that program was found (on taskhost's PATH, or the absolute path itself); null if nowhere. */
      found: string | null;
    };

/** The program a #! line runs the script with: the interpreter, or what `env` is asked to find. */
export function shebangProgram(firstLine: string): string | null {
  if (!firstLine.startsWith('#!')) return null;
  const words = firstLine.slice(2).trim().split(/\s+/).filter(Boolean);
  const interpreter = words[0];
  if (interpreter === undefined) return null;
  if (!/(?:^|\/)env$/.test(interpreter)) return interpreter;
  // `#!/usr/bin/env bash`, `#!/usr/bin/env -S python3 -u`: the first word that is not an option.
  return words.slice(1).find((word) => !word.startsWith('-')) ?? null;
}

export function decideExecutable(file: string, problem: string | null): RuleResult {
  if (problem === null) return pass('executable', 'the file is executable');
  // registry.checkExecutable's message ends with the fix, which goes on its own line here.
  return fail('executable', problem.replace(/ \(chmod \+x .*\)$/, ''), `chmod +x ${file}`);
}

export function decideShebang(file: string, facts: ShebangFacts): RuleResult {
  if (facts.kind === 'binary') return pass('shebang', 'a binary executable: no #! line needed');
  const line = facts.firstLine ?? '';
  if (!line.startsWith('#!')) {
    return fail(
      'shebang',
      'no #! line: the file runs only through a fallback, under /bin/sh, whatever language it is in',
      'make the first line #!/usr/bin/env bash (or python3, or whatever runs it)',
    );
  }
  if (line.endsWith('\r')) {
    return fail(
      'shebang',
      `the #! line ends with a carriage return (Windows line endings): the system looks for "${facts.program ?? ''}\\r"`,
      `convert the file to Unix line endings: sed -i 's/\\r$//' ${file}`,
    );
  }
  if (facts.program === null) {
    return fail('shebang', `${line} names no interpreter`, 'write #!/usr/bin/env bash (or python3...)');
  }
  if (facts.found === null) {
    const where = facts.program.includes('/') ? 'does not exist' : "is not on taskhost's PATH";
    return fail(
      'shebang',
      `${line}: ${facts.program} ${where}`,
      `install ${facts.program}, or name an interpreter that exists`,
    );
  }
  const at = facts.found === facts.program ? '' : ` (${facts.found})`;
  return pass('shebang', `${line}${at}`);
}
