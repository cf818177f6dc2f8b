/**
 * The rules of `taskhost plugin check`, as data: each has an id, and each check ends with a
 * verdict, a message saying what was seen, and (for a warning or a failure) the fix in one
 * line. Pure: no I/O here.
 */

export const Verdict = {
  PASS: 'pass',
  WARN: 'warn',
  FAIL: 'fail',
  /** Not checked: not applicable, or an earlier failure left nothing to check it on. */
  SKIP: 'skip',
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** Every rule, in the order they are checked and reported. */
export const RULES = [
  { id: 'executable', about: 'the file has its execute bit' },
  { id: 'shebang', about: 'a #! line naming an interpreter that exists (or a binary)' },
  { id: 'schema-answers', about: '`PLUGIN schema` exits 0 within 10 s' },
  { id: 'schema-json', about: '`schema` prints one JSON object on stdout' },
  { id: 'description', about: 'the description validates (name, description, inputs...)' },
  { id: 'schemas-compile', about: '`inputs` and `outputs` compile as JSON Schemas (and which draft)' },
  { id: 'name', about: 'the name is a valid plugin name' },
  { id: 'heredoc-key', about: 'no empty key (an unquoted heredoc ate "$schema")' },
  { id: 'example-data', about: 'example data (given, or from examples/default) passes `inputs`' },
  {
    id: 'result-line',
    about: 'a run prints a result line: the last stdout JSON object with an integer status',
  },
  { id: 'outputs', about: 'the result matches `outputs`' },
  { id: 'exit-code', about: 'the plugin exits 0 after its result' },
  { id: 'final-state', about: "the result's `state` is a final one" },
  { id: 'output-after-result', about: 'nothing is printed on stdout after the result line' },
  { id: 'json-logs', about: 'no stdout log line is a JSON object with a "status" key' },
  { id: 'timeout', about: 'the run time against the `timeout`' },
  { id: 'environment', about: 'no reliance on variables outside PATH, HOME, LANG, TASKHOST_*' },
  { id: 'run-outcome', about: 'the state taskhost would record for the run' },
] as const;
export type RuleId = (typeof RULES)[number]['id'];

export interface RuleResult {
  id: RuleId;
  verdict: Verdict;
  /** What was seen, one line. */
  message: string;
  /** What to do about it, one line; null for a pass or a skip. */
  fix: string | null;
}

export function pass(id: RuleId, message: string): RuleResult {
  return { id, verdict: Verdict.PASS, message, fix: null };
}

export function warn(id: RuleId, message: string, fix: string): RuleResult {
  return { id, verdict: Verdict.WARN, message, fix };
}

export function fail(id: RuleId, message: string, fix: string): RuleResult {
  return { id, verdict: Verdict.FAIL, message, fix };
}

export function skip(id: RuleId, why: string): RuleResult {
  return { id, verdict: Verdict.SKIP, message: why, fix: null };
}

/** The results in catalogue order; a rule not decided is a skip saying why (`blocked`). */
export function completeResults(decided: readonly RuleResult[], blocked: string): RuleResult[] {
  const byId = new Map(decided.map((result) => [result.id, result]));
  return RULES.map(({ id }) => byId.get(id) ?? skip(id, `not checked: ${blocked}`));
}

/** How many rules ended with each verdict. */
export function countVerdicts(results: readonly RuleResult[]): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const result of results) counts[result.verdict] += 1;
  return counts;
}

/** A value shown in a message: compact JSON, cut at `max` characters. */
export function shown(value: unknown, max = 120): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A line of text shown in a message, quoted and cut at `max` characters. */
export function quoted(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max - 1)}…` : text);
}

/** Seconds, as a person reads them: 0.04 s, 1.2 s, 12 s. */
export function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 1) return `${s.toFixed(2)} s`;
  if (s < 10) return `${s.toFixed(1)} s`;
  return `${Math.round(s)} s`;
}
