/**
 * Decisions on `PLUGIN schema`: how it answered, what it printed, and the description in
 * it. Pure: the facts are gathered by observe.ts.
 */
import { fail, pass, quoted, seconds, warn, type RuleResult } from './rules.ts';

/** A `schema` answer slower than this is worth a warning (taskhost allows 10 s). */
export const SLOW_SCHEMA_MS = 2000;

export interface SchemaAnswerFacts {
  durationMs: number;
  timeoutMs: number;
  spawnError: string | null;
  killReason: 'timeout' | 'cancelled' | null;
  signal: string | null;
  exitCode: number | null;
  stderrTail: readonly string[];
  oversize: boolean;
  maxBytes: number;
}

function stderrOf(tail: readonly string[]): string {
  const lines = tail.filter((line) => line.trim() !== '');
  return lines.length === 0 ? '' : ` (stderr: ${lines.slice(-3).join(' | ')})`;
}

export function decideSchemaAnswers(facts: SchemaAnswerFacts): RuleResult {
  const answer = 'when the first argument is `schema`, print the description on stdout and exit 0';
  if (facts.spawnError) {
    return fail('schema-answers', facts.spawnError, 'check the #! line and that the file can run');
  }
  if (facts.killReason === 'timeout') {
    return fail(
      'schema-answers',
      `\`schema\` did not answer within ${seconds(facts.timeoutMs)}: it was killed`,
      'answer `schema` first, before reading stdin or doing any slow work',
    );
  }
  if (facts.signal) {
    return fail(
      'schema-answers',
      `\`schema\` was killed by ${facts.signal}${stderrOf(facts.stderrTail)}`,
      answer,
    );
  }
  if (facts.exitCode !== 0) {
    return fail(
      'schema-answers',
      `\`schema\` exited with code ${facts.exitCode}${stderrOf(facts.stderrTail)}`,
      answer,
    );
  }
  if (facts.oversize) {
    return fail(
      'schema-answers',
      `\`schema\` printed more than ${facts.maxBytes} bytes`,
      'print the description only; logs go to stderr',
    );
  }
  if (facts.durationMs > SLOW_SCHEMA_MS) {
    return warn(
      'schema-answers',
      `\`schema\` answered in ${seconds(facts.durationMs)}: taskhost runs it at every registration and server start, and allows ${seconds(facts.timeoutMs)}`,
      'answer `schema` before any slow work (imports, network, reading files)',
    );
  }
  return pass('schema-answers', `\`schema\` answered in ${seconds(facts.durationMs)}, exit 0`);
}

export type ParsedDescription =
  { ok: true; value: unknown; leadingText: boolean } | { ok: false; error: string };

export function decideSchemaJson(parsed: ParsedDescription): RuleResult {
  const encoder =
    "print the description as one JSON object: in bash a quoted heredoc (cat <<'EOF') or jq, in python json.dumps";
  if (!parsed.ok) return fail('schema-json', `\`schema\` ${parsed.error}`, encoder);
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    return fail('schema-json', `\`schema\` printed ${what}, not a JSON object`, encoder);
  }
  if (parsed.leadingText) {
    return warn(
      'schema-json',
      '`schema` printed lines before its JSON object on stdout (taskhost skips them)',
      'print only the description on stdout; send anything else to stderr',
    );
  }
  return pass('schema-json', '`schema` printed one JSON object');
}

export function decideDescription(problems: string | null, description: Record<string, unknown>): RuleResult {
  if (problems !== null) {
    return fail(
      'description',
      `invalid self-description: ${problems}`,
      'a description needs "name", "description" and "inputs" (a JSON Schema); see schemas/plugin-description.schema.json',
    );
  }
  const optional = [
    'title',
    'category',
    'tags',
    'outputs',
    'timeout',
    'idempotent',
    'expensive',
    'dangerous',
  ];
  const present = optional.filter((key) => description[key] !== undefined);
  return pass(
    'description',
    `name, description, inputs${present.length > 0 ? `, and ${present.join(', ')}` : ''}`,
  );
}

/** How one schema of the description compiled: the draft it was read as, or why it did not. */
export type CompiledSchema = { draft: string; declared: boolean } | { error: string };

export function decideSchemasCompile(schemas: {
  inputs: CompiledSchema;
  outputs?: CompiledSchema;
}): RuleResult {
  const parts: string[] = [];
  for (const key of ['inputs', 'outputs'] as const) {
    const compiled = schemas[key];
    if (compiled === undefined) continue;
    if ('error' in compiled) {
      return fail(
        'schemas-compile',
        `"${key}" is not a valid JSON Schema: ${compiled.error}`,
        `fix "${key}"; name its draft with "$schema" (draft-04, draft-06, draft-07, 2019-09 or 2020-12)`,
      );
    }
    parts.push(`${key} as ${compiled.draft}${compiled.declared ? '' : ' (no "$schema": the default)'}`);
  }
  return pass('schemas-compile', `compiled: ${parts.join('; ')}`);
}

export function decideName(name: unknown, problem: string | null): RuleResult {
  if (typeof name !== 'string') {
    return fail('name', 'the description has no string "name"', 'give the plugin a "name"');
  }
  if (problem !== null) {
    return fail(
      'name',
      problem,
      `rename it in the description (taskhost serve registers it under that name)`,
    );
  }
  return pass('name', `"${name}"`);
}

/** Where an empty key sits in a value: "(top level)", "inputs", "inputs.properties.x"... */
export function emptyKeyPaths(value: unknown, at = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item, index) => emptyKeyPaths(item, `${at}[${index}]`));
  const found: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (key === '') found.push(at === '' ? '(top level)' : at);
    found.push(...emptyKeyPaths(child, at === '' ? key : `${at}.${key}`));
  }
  return found;
}

export function decideHeredocKey(paths: readonly string[]): RuleResult {
  if (paths.length === 0) return pass('heredoc-key', 'no empty key');
  return warn(
    'heredoc-key',
    `the description has an empty key "" (at ${paths.map((where) => quoted(where, 40)).join(', ')}): an unquoted heredoc turned "$schema" into ""`,
    "quote the heredoc delimiter (cat <<'EOF'), so that the shell expands nothing in the description",
  );
}
