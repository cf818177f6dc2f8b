import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkAgainst, checkSchema } from '../../../src/schema/json-schema.ts';
import { loadFunctions } from '../../../src/template/function-load.ts';
import { loadTemplateFile, loadTemplateText } from '../../../src/template/load.ts';
import type { CheckOptions } from '../../../src/template/validate.ts';
import { BUILTINS_ONLY, fixture, issueLines } from '../../helpers/templates.ts';

/**
 * schemas/template.schema.json and schemas/function.schema.json: what editors validate
 * with. Every template of templates/ must pass both the schema and the loader, and the
 * schema must accept every valid fixture (µTask's shapes) as written.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as Record<string, unknown>;
const templateSchema = readJson('schemas/template.schema.json');
const functionSchema = readJson('schemas/function.schema.json');
const yamlIn = (dir: string): string[] =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((name) => /\.ya?ml$/.test(name))
        .map((name) => path.join(dir, name))
    : [];

test('both schemas are valid draft-07 JSON Schemas', () => {
  assert.equal(checkSchema(templateSchema), 'draft-07');
  assert.equal(checkSchema(functionSchema), 'draft-07');
});

test('the function schema shares the template schema definitions (its action has no base_configuration)', () => {
  const template = templateSchema.definitions as Record<string, Record<string, unknown>>;
  const fn = functionSchema.definitions as Record<string, Record<string, unknown>>;
  for (const name of ['condition', 'assert', 'customState']) assert.deepEqual(fn[name], template[name], name);
  const templateAction = structuredClone(template.action) as { properties: Record<string, unknown> };
  const functionAction = structuredClone(fn.action) as { properties: Record<string, unknown> };
  delete templateAction.properties.base_configuration;
  delete templateAction.properties.configuration;
  delete functionAction.properties.configuration;
  assert.deepEqual(functionAction, templateAction);
});

/**
 * The example plugins of tasks/ (executables; each describes itself under its file's name),
 * which templates/ may run: action types besides the builtins, as `taskhost serve` registers them.
 */
function withTaskPlugins(): Omit<CheckOptions, 'functions'> {
  const dir = path.join(ROOT, 'tasks');
  const plugins = fs
    .readdirSync(dir)
    .filter((name) => (fs.statSync(path.join(dir, name)).mode & 0o111) !== 0)
    .map((name) => name.replace(/\.[^.]+$/, ''));
  return {
    isKnownAction: (type) => BUILTINS_ONLY.isKnownAction(type) || plugins.includes(type),
    actionNames: [...(BUILTINS_ONLY.actionNames ?? []), ...plugins],
  };
}

test('every template in templates/ validates against the schema and through the loader', async () => {
  const files = yamlIn(path.join(ROOT, 'templates'));
  assert.ok(files.length > 0, 'templates/ holds templates');
  const actions = withTaskPlugins();
  const { library, issues } = await loadFunctions(path.join(ROOT, 'templates', 'functions'), actions);
  assert.deepEqual(issueLines(issues), []);
  for (const file of files) {
    assert.equal(checkAgainst(templateSchema, parse(fs.readFileSync(file, 'utf8'))), null, file);
    const result = await loadTemplateFile(file, { ...actions, functions: library });
    assert.deepEqual(issueLines(result.issues), [], file);
  }
  for (const file of yamlIn(path.join(ROOT, 'templates', 'functions'))) {
    assert.equal(checkAgainst(functionSchema, parse(fs.readFileSync(file, 'utf8'))), null, file);
  }
});

test('the schema accepts every valid fixture as written (µTask shapes, deprecated forms included)', () => {
  for (const file of yamlIn(fixture('valid'))) {
    assert.equal(checkAgainst(templateSchema, parse(fs.readFileSync(file, 'utf8'))), null, file);
  }
  for (const dir of [fixture('functions'), fixture('functions', 'nested')]) {
    for (const file of yamlIn(dir)) {
      assert.equal(checkAgainst(functionSchema, parse(fs.readFileSync(file, 'utf8'))), null, file);
    }
  }
});

test('the schema documents every property it accepts (editors show the description)', () => {
  const missing: string[] = [];
  const visit = (node: unknown, where: string): void => {
    if (node === null || typeof node !== 'object') return;
    const properties = (node as { properties?: Record<string, Record<string, unknown>> }).properties;
    for (const [name, property] of Object.entries(properties ?? {})) {
      if (typeof property.description !== 'string') missing.push(`${where}.${name}`);
      visit(property, `${where}.${name}`);
    }
  };
  visit(templateSchema, 'template');
  for (const [name, definition] of Object.entries(templateSchema.definitions as Record<string, unknown>)) {
    visit(definition, name);
  }
  visit(functionSchema, 'function');
  assert.deepEqual(missing, []);
});

test("the README's template example loads", async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Templates'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example, 'a yaml block in the Templates section');
  const result = loadTemplateText('README.md', example, BUILTINS_ONLY);
  assert.deepEqual(issueLines(result.issues), []);
  assert.equal(result.template?.name, 'hello');
});
