import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import { registerDirectory } from '../../../src/plugins/registry.ts';
import { assertExit, cliEnv, taskhost, type CliResult } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Issue 12, item 7: the example templates in templates/ (µTask's three real-world
 * examples, the ssh-access template one of them runs as a subtask, hello) and the functions
 * in templates/functions/ are valid for `taskhost template validate`, and for the JSON
 * Schema an editor reads, and both say the same about them. A misspelt key in a copy of an
 * example is named by the CLI at its file:line:column with a "did you mean", and refused by
 * the schema at the same place.
 *
 * Two examples run plugins of tasks/ (generate-csr, fraud-score): the CLI knows plugins
 * from the registry only (`--plugins`), so the validation runs against a database where
 * tasks/ is registered as `taskhost serve` registers it.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEMPLATES = path.join(ROOT, 'templates');
const FUNCTIONS = path.join(TEMPLATES, 'functions');
const TASKS = path.join(ROOT, 'tasks');
const isYaml = (file: string): boolean => /\.ya?ml$/.test(file);

/** templates/*.yaml, as `template validate templates` names them (relative to the root). */
const templateFiles = fs
  .readdirSync(TEMPLATES)
  .filter(isYaml)
  .sort()
  .map((name) => path.join('templates', name));

/** templates/functions/**.yaml, relative to the root. */
const functionFiles = (fs.readdirSync(FUNCTIONS, { recursive: true }) as string[])
  .filter(isYaml)
  .sort()
  .map((name) => path.join('templates', 'functions', name));

/**
 * A database where the plugins of tasks/ are registered, for the whole file (made at load:
 * createTestDatabase drops it after the test, or here the file, that made it).
 */
const registry = await (async () => {
  const database = await createTestDatabase();
  const found = await registerDirectory(database.store, TASKS);
  assert.deepEqual(found.failed, []);
  return { url: database.url, plugins: found.registered.map((row) => row.name) };
})();

function validate(args: readonly string[], withPlugins: boolean): Promise<CliResult> {
  const extra: Record<string, string> = withPlugins ? { DATABASE_URL: registry.url } : {};
  return taskhost(['template', 'validate', ...(withPlugins ? ['--plugins'] : []), ...args], {
    cwd: ROOT,
    env: cliEnv(extra),
    timeoutMs: 60_000,
  });
}

/**
 * schemas/*.schema.json compiled as an editor's validator reads them: draft-07 (their
 * `$schema`), so ajv's default class (src/schema/json-schema.ts picks the class from
 * `$schema` the same way), in strict mode. The only keywords ajv does not know are the
 * VS Code annotations the schemas carry for editors; everything else must be standard.
 */
function editorValidator(name: 'template' | 'function') {
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as {
    $schema: string;
  };
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
  ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'deprecationMessage', schemaType: 'string' });
  return ajv.compile(schema);
}

function readYaml(file: string): unknown {
  return YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as unknown;
}

function explain(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((error) => `${error.instancePath} ${error.message}`).join('\n');
}

test('the examples are there: µTask three real-world examples, their subtask, hello, and a function', () => {
  assert.deepEqual(templateFiles, [
    'templates/certificate-provisioning.yaml',
    'templates/hello.yaml',
    'templates/payments-antifraud.yaml',
    'templates/ssh-access.yaml',
    'templates/team-member-bootstrap.yaml',
  ]);
  assert.deepEqual(functionFiles, ['templates/functions/http-post-json.yaml']);
});

test('validate --plugins: every template of templates/ and every function of templates/functions/ is valid', async () => {
  assert.deepEqual(registry.plugins, ['check-url', 'fraud-score', 'generate-csr']);
  // The functions directory (default templates/functions) is validated with the templates:
  // a problem in a function would be a line of its own, so "ok" lines only means both.
  const result = await validate(['templates'], true);
  assertExit(result, 0);
  assert.equal(result.stdout, templateFiles.map((file) => `${file}: ok\n`).join(''));
  assert.equal(result.stderr, '');
});

test('validate without --plugins: the only problems are the plugin steps, as unknown action types', async () => {
  const { plugins } = registry;
  const result = await validate(['templates'], false);
  const problems = result.stdout.split('\n').filter((line) => line !== '' && !line.endsWith(': ok'));
  for (const line of problems) {
    const match =
      /^templates\/[\w-]+\.yaml:\d+:\d+: steps\.\w+\.action\.type: unknown action type "([\w-]+)"$/.exec(
        line,
      );
    assert.ok(match && plugins.includes(match[1] as string), `not a plugin step: ${line}`);
  }
  assertExit(result, problems.length > 0 ? 2 : 0);
});

test('every template and function conforms to its JSON Schema, as an editor checks it (agreeing with the CLI)', () => {
  const checks: [ReturnType<typeof editorValidator>, readonly string[]][] = [
    [editorValidator('template'), templateFiles],
    [editorValidator('function'), functionFiles],
  ];
  for (const [check, files] of checks) {
    for (const file of files) {
      assert.ok(check(readYaml(file)), `${file}\n${explain(check.errors)}`);
    }
  }
});

/** A misspelling of one key in a copy of an example: `needle` (unique in the file) holds the key. */
interface Misspelling {
  file: string;
  needle: string;
  key: string;
  typo: string;
  /** The field the CLI names, dotted. */
  field: string;
}

const MISSPELLINGS: readonly Misspelling[] = [
  {
    file: 'certificate-provisioning.yaml',
    needle: '    legal_values: [ec, rsa]',
    key: 'legal_values',
    typo: 'legal_value',
    field: 'inputs[3].legal_value',
  },
  {
    file: 'certificate-provisioning.yaml',
    needle: '    retry_pattern: seconds',
    key: 'retry_pattern',
    typo: 'retry_patern',
    field: 'steps.issued.retry_patern',
  },
  {
    file: 'team-member-bootstrap.yaml',
    needle: '    foreach_strategy: sequence',
    key: 'foreach_strategy',
    typo: 'foreach_stategy',
    field: 'steps.accounts.foreach_stategy',
  },
  {
    file: 'payments-antifraud.yaml',
    needle: '    json_schema:',
    key: 'json_schema',
    typo: 'json_shema',
    field: 'steps.secondOpinion.json_shema',
  },
  {
    file: 'payments-antifraud.yaml',
    needle: '\nresult_format:',
    key: 'result_format',
    typo: 'result_fromat',
    field: 'result_fromat',
  },
  {
    file: 'ssh-access.yaml',
    needle: '    resources: [key-registry]',
    key: 'resources',
    typo: 'resource',
    field: 'steps.register.resource',
  },
];

/** The 1-based line and column of `offset` in `text`. */
function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

test('a misspelt key in a copy of an example: the CLI names file:line:column and a "did you mean", the schema refuses it too', async (t) => {
  const dir = tempDir(t);
  const editor = editorValidator('template');
  await Promise.all(
    MISSPELLINGS.map(async ({ file, needle, key, typo, field }, index) => {
      const text = fs.readFileSync(path.join(TEMPLATES, file), 'utf8');
      const at = text.indexOf(needle);
      assert.ok(at >= 0 && at === text.lastIndexOf(needle), `${needle} once in ${file}`);
      const offset = at + needle.indexOf(key);
      const broken = text.slice(0, offset) + typo + text.slice(offset + key.length);
      // One copy per run: copies of one template share its name, which is a problem of its own.
      const copy = path.join(dir, `${index}-${file}`);
      fs.writeFileSync(copy, broken);

      const { line, column } = position(broken, offset);
      const result = await validate(['--functions', FUNCTIONS, copy], true);
      assertExit(result, 2);
      assert.equal(
        result.stdout,
        `${copy}:${line}:${column}: ${field}: unknown key "${typo}" (did you mean "${key}"?)\n`,
      );

      assert.equal(editor(YAML.parse(broken)), false, `${copy}: the schema accepts "${typo}"`);
      const unknown = (editor.errors ?? []).filter((error) => error.keyword === 'additionalProperties');
      assert.deepEqual(
        unknown.map((error) => [
          ...error.instancePath.split('/').slice(1),
          String(error.params.additionalProperty),
        ]),
        [fieldParts(field)],
        explain(editor.errors),
      );
    }),
  );
});

/** `steps.a.b` and `inputs[3].b` as JSON pointer parts: ['steps', 'a', 'b'], ['inputs', '3', 'b']. */
function fieldParts(field: string): string[] {
  return field.split(/\.|\[(\d+)\]\.?/).filter((part) => part !== undefined && part !== '');
}
