/**
 * Which environment variables a plugin's source reads that taskhost does not pass (it
 * passes PATH, HOME, LANG and TASKHOST_*, see plugins/environment.ts). A scan of the text,
 * not a parse: shell `$VAR` and `${VAR}` (upper-case names, not assigned in the script, not
 * set by the shell itself, without a `${VAR:-default}`), and Python's `os.environ["VAR"]`,
 * `os.environ.get("VAR")` and `os.getenv("VAR")` without a default. It only explains a run
 * that failed, so a false positive costs one line of a warning. Pure: no I/O here.
 */

const PASSED = new Set(['PATH', 'HOME', 'LANG']);

/** Variables bash sets itself (or that its helpers here set), which no environment needs to pass. */
const SHELL_OWN = new Set([
  'BASH',
  'BASHOPTS',
  'BASHPID',
  'BASH_ALIASES',
  'BASH_ARGC',
  'BASH_ARGV',
  'BASH_ARGV0',
  'BASH_COMMAND',
  'BASH_LINENO',
  'BASH_REMATCH',
  'BASH_SOURCE',
  'BASH_SUBSHELL',
  'BASH_VERSINFO',
  'BASH_VERSION',
  'COLUMNS',
  'DIRSTACK',
  'EPOCHREALTIME',
  'EPOCHSECONDS',
  'EUID',
  'FUNCNAME',
  'GROUPS',
  'HOSTNAME',
  'HOSTTYPE',
  'IFS',
  'LINENO',
  'LINES',
  'MACHTYPE',
  'OLDPWD',
  'OPTARG',
  'OPTERR',
  'OPTIND',
  'OSTYPE',
  'PIPESTATUS',
  'PPID',
  'PS4',
  'PWD',
  'RANDOM',
  'REPLY',
  'SECONDS',
  'SHELL',
  'SHELLOPTS',
  'SHLVL',
  'SRANDOM',
  'UID',
]);

/** `$NAME`s of the other languages a shell script embeds in quotes (awk's $NF, jq's $ENV). */
const NOT_SHELL = new Set([
  'NF',
  'NR',
  'FNR',
  'FS',
  'OFS',
  'RS',
  'ORS',
  'FILENAME',
  'ENV',
  'ARGS',
  '__LOC__',
]);

function outsideMinimalSet(name: string): boolean {
  return !PASSED.has(name) && !name.startsWith('TASKHOST_');
}

/** Names a shell script assigns (NAME=, export/readonly/local/declare NAME, for NAME in, read NAME). */
function shellAssigned(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/(?:^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]\n]*\])?\+?=/g)) {
    names.add(match[1] as string);
  }
  for (const match of text.matchAll(
    /\b(?:export|readonly|local|declare|typeset)((?:\s+-\w+)*(?:\s+[A-Za-z_]\w*)+)/g,
  )) {
    for (const word of (match[1] as string).trim().split(/\s+/)) if (!word.startsWith('-')) names.add(word);
  }
  for (const match of text.matchAll(/\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b/g)) {
    names.add(match[1] as string);
  }
  for (const match of text.matchAll(/\b(?:read|getopts|mapfile|readarray)\b([^\n;&|]*)/g)) {
    for (const word of (match[1] as string).matchAll(/\b([A-Z_][A-Z0-9_]*)\b/g)) names.add(word[1] as string);
  }
  return names;
}

function scanShell(text: string): string[] {
  const assigned = shellAssigned(text);
  const bare = new Set<string>();
  for (const match of text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(:?[-=+?])?/g)) {
    // ${VAR:-x}, ${VAR-x}, ${VAR:=x} and ${VAR:+x} cope with an unset VAR; ${VAR:?msg} does not.
    const operator = match[2] ?? '';
    if (operator === '' || operator.endsWith('?')) bare.add(match[1] as string);
  }
  for (const match of text.matchAll(/\$([A-Z_][A-Z0-9_]*)/g)) bare.add(match[1] as string);
  return [...bare].filter(
    (name) =>
      outsideMinimalSet(name) &&
      !SHELL_OWN.has(name) &&
      !NOT_SHELL.has(name) &&
      !name.startsWith('TH_') &&
      !assigned.has(name),
  );
}

function scanPython(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(/\benviron\s*\[\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*\]/g)) {
    names.add(match[2] as string);
  }
  for (const match of text.matchAll(
    /\b(?:environ\.get|getenv)\s*\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*(,)?/g,
  )) {
    if (match[3] === undefined) names.add(match[2] as string);
  }
  return [...names].filter(outsideMinimalSet);
}

/**
 * The variables outside PATH, HOME, LANG and TASKHOST_* that the source reads without a
 * fallback, sorted. `language` comes from the #! line; when unknown, both scans run.
 */
export function environmentReads(text: string, language: 'shell' | 'python' | 'unknown'): string[] {
  const found = new Set<string>();
  if (language !== 'python') for (const name of scanShell(text)) found.add(name);
  if (language !== 'shell') for (const name of scanPython(text)) found.add(name);
  return [...found].sort();
}

/** The language of a #! program: `bash`, `sh`, `zsh`... are shell; `python3`... python. */
export function languageOf(program: string | null): 'shell' | 'python' | 'unknown' {
  const base = (program ?? '').split('/').pop() ?? '';
  if (/^(?:ba|da|k|z|mk|)sh$/.test(base)) return 'shell';
  if (/^python[0-9.]*$/.test(base)) return 'python';
  return 'unknown';
}
