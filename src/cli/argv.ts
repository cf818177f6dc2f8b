/**
 * The protocol's reference CLI takes Go-style flags with one dash (`-name X -taskArgs {}`);
 * commander wants two. Known long flags written with one dash are rewritten, as are the
 * reference spelling `-taskArgs` / `--taskArgs` to `--args`.
 */
const SINGLE_DASH_LONG = new Set([
  'name',
  'location',
  'args',
  'json',
  'batch',
  'concurrency',
  'server',
  'async',
  'timeout',
  'port',
  'host',
  'tasks',
  'templates',
  'functions',
  'since',
]);

export function normaliseArgv(argv: readonly string[]): string[] {
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
    if (single && SINGLE_DASH_LONG.has(single[1] as string)) {
      out.push(`--${single[1]}${single[2] ?? ''}`);
      continue;
    }
    out.push(arg);
  }
  return out;
}
