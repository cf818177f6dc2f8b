import type { Command } from 'commander';

/**
 * The protocol's reference CLI takes Go-style flags with one dash (`-name X -taskArgs {}`);
 * commander wants two. Every long flag the program knows, written with one dash
 * (`-args-file`, `-quiet`, `-data-dir`), is rewritten to two, as is the reference spelling
 * `-taskArgs` / `--taskArgs` to `--args`. Single-letter flags (`-v`, `-h`) and anything
 * after `--` are left alone.
 */
export function normaliseArgv(argv: readonly string[], longFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const match = /^--?(taskArgs|task-args)(=.*)?$/.exec(arg);
    if (match) {
      out.push(`--args${match[2] ?? ''}`);
      continue;
    }
    const single = /^-([A-Za-z][A-Za-z-]+)(=.*)?$/.exec(arg);
    if (single && longFlags.has(single[1] as string)) {
      out.push(`--${single[1]}${single[2] ?? ''}`);
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** The long flags (without dashes) of a program and all its subcommands. */
export function longFlagsOf(program: Command): Set<string> {
  const flags = new Set(['help', 'version']);
  const visit = (command: Command): void => {
    for (const option of command.options) if (option.long) flags.add(option.long.replace(/^--/, ''));
    for (const sub of command.commands) visit(sub);
  };
  visit(program);
  return flags;
}
