import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadFunctions } from '../../../src/template/function-load.ts';
import { conditionsOf, customStatesOf, functionChain, preHookOf } from '../../../src/template/functions.ts';
import { loadTemplateFile, loadTemplateText } from '../../../src/template/load.ts';
import { PositionMap } from '../../../src/template/positions.ts';
import type { LoadedTemplate, Template } from '../../../src/template/types.ts';
import { BUILTINS_ONLY, fixture, issueLines } from '../../helpers/templates.ts';

/**
 * Valid templates load into the typed form of src/template/types.ts, defaults applied, in
 * the shapes of µTask's own test templates (engine/templates_tests, engine/functions_tests).
 */

const { library, issues: functionIssues } = await loadFunctions(fixture('functions'), BUILTINS_ONLY);
const options = { ...BUILTINS_ONLY, functions: library };

async function load(name: string): Promise<LoadedTemplate> {
  const result = await loadTemplateFile(fixture('valid', name), options);
  assert.deepEqual(issueLines(result.issues), []);
  assert.ok(result.template);
  return result.template;
}

function step(template: Template, name: string): Template['steps'][string] {
  const found = template.steps[name];
  assert.ok(found, `step ${name}`);
  return found;
}

test('a minimal template gets every default: µTask names, retry_max 100, max_retries 10000, seconds, lists and maps empty', async () => {
  const loaded = await load('defaults.yaml');
  assert.equal(loaded.name, 'minimal-template');
  assert.equal(loaded.file, fixture('valid', 'defaults.yaml'));
  assert.deepEqual(loaded.template, {
    name: 'minimal-template',
    description: 'The least a template says',
    allowed_resolver_usernames: [],
    allowed_resolver_groups: [],
    allow_all_resolver_usernames: false,
    allow_task_start_over: false,
    auto_runnable: false,
    blocked: false,
    hidden: false,
    retry_max: 100,
    inputs: [],
    resolver_inputs: [],
    variables: [],
    base_configurations: {},
    steps: {
      only: {
        description: '',
        idempotent: false,
        action: { type: 'echo', configuration: {} },
        dependencies: [],
        custom_states: [],
        conditions: [],
        retry_pattern: 'seconds',
        max_retries: 10000,
        resources: [],
      },
    },
  });
});

test('conditions: operators upper-cased, scalars read as strings, list_separator defaults to ",", final defaults to false', async () => {
  const { template } = await load('conditions.yaml');
  const [first, second] = step(template, 'stepOne').conditions;
  assert.equal(first?.final, false);
  assert.equal(second?.final, true);
  assert.deepEqual(step(template, 'stepTwo').conditions[0]?.if[0], {
    value: '{{step.this.output.email}}',
    operator: 'REGEXP',
    expected: '(?i)[a-z\\.]+@example\\.com$',
    list_separator: ',',
  });
  assert.equal(step(template, 'stepFour').conditions[0]?.if[0]?.list_separator, ';');
  assert.deepEqual(step(template, 'stepFour').dependencies, ['stepThree:DONE,FOO']);
  assert.deepEqual(step(template, 'stepSkip').conditions[0], {
    type: 'skip',
    if: [{ value: '1', operator: 'GE', expected: '1', list_separator: ',' }],
    then: { this: 'PRUNE' },
    final: false,
  });
});

test('foreach: strategy parallel by default, skip conditions run on the children unless they say parent', async () => {
  const { template } = await load('foreach.yaml');
  const generate = step(template, 'generateItems');
  assert.equal(generate.foreach, '{{toJson input.list}}');
  assert.equal(generate.foreach_strategy, 'sequence');
  assert.equal(generate.conditions[0]?.foreach, 'children');
  assert.equal(generate.conditions[1]?.foreach, undefined, 'a check condition has no foreach');
  assert.deepEqual(generate.conditions[1]?.then, { bStep: 'B' });
  const concat = step(template, 'concatItems');
  assert.equal(concat.foreach_strategy, 'parallel');
  assert.equal(concat.conditions[0]?.foreach, 'parent');
  assert.deepEqual(concat.conditions[1]?.then, { concatItems: 'PRUNE' }, 'a foreach step may name itself');
  assert.equal(step(template, 'bStep').foreach_strategy, undefined);
});

test('dependencies with ANY and custom states, conditions on steps up and down the chain', async () => {
  const { template } = await load('dependencies.yaml');
  assert.deepEqual(step(template, 'fourthStep').dependencies, ['thirdStepOK:ANY', 'thirdStepKO:ANY']);
  assert.deepEqual(step(template, 'secondStep').conditions[0]?.then, {
    firstStepSuccess: 'TO_RETRY',
    this: 'TO_RETRY',
    thirdStepKO: 'PRUNE',
  });
  assert.deepEqual(Object.keys(template.steps), [
    'firstStepSuccess',
    'firstStepNotFound',
    'secondStep',
    'thirdStepOK',
    'thirdStepKO',
    'fourthStep',
  ]);
});

test('every property loads; base_output becomes output merge, version 4 becomes $schema, delays become milliseconds', async () => {
  const { template } = await load('everything.yaml');
  assert.equal(template.name, 'everything');
  assert.equal(template.retry_max, 5);
  assert.equal(template.hidden, true);
  assert.equal(template.allow_task_start_over, true);
  assert.deepEqual(template.tags, { customer: '{{input.id}}', kind: 'test' });
  assert.deepEqual(template.inputs[1], {
    name: 'count',
    collection: true,
    type: 'number',
    optional: true,
    default: [1, 2],
    hidden: false,
  });
  assert.deepEqual(template.variables, [
    { name: 'greeting', value: 'Hello' },
    {
      name: 'sum',
      expression: '1 + {{input.count}}',
      expression_timeout: '1500ms',
      expression_timeout_ms: 1500,
    },
  ]);
  const fetch = step(template, 'fetch');
  assert.deepEqual(fetch.action.output, { strategy: 'merge', format: { id: '{{input.id}}' } });
  assert.equal('base_output' in fetch.action, false);
  assert.equal(fetch.action.base_configuration, 'api');
  assert.deepEqual(fetch.pre_hook, { type: 'echo', configuration: { output: { token: 'abc' } } });
  assert.equal(fetch.retry_pattern, 'minutes');
  assert.equal(fetch.max_retries, -1);
  assert.equal(fetch.execution_delay, 2000);
  assert.deepEqual(fetch.resources, ['api']);
  assert.deepEqual(fetch.json_schema, {
    $schema: 'http://json-schema.org/draft-04/schema#',
    type: 'object',
    properties: { id: { type: 'string' } },
  });
  const summarise = step(template, 'summarise');
  assert.equal(summarise.max_retries, 10000, 'µTask reads max_retries 0 as the default');
  assert.equal(summarise.execution_delay, 500, 'µTask nanoseconds');
  assert.equal(summarise.action.output?.strategy, 'template');
});

test('functions: function_args, nested functions, their pre_hook, conditions and custom states follow the chain as in µTask', async () => {
  assert.deepEqual(issueLines(functionIssues), []);
  assert.deepEqual([...library.functions.keys()].sort(), [
    'echo::custom::state',
    'echo::hello::nested1',
    'echo::hello::nested2',
    'echo::hello::world',
    'echo::preHook',
  ]);
  const world = library.functions.get('echo::hello::world');
  assert.deepEqual(world?.function.function_args, ['name']);
  assert.equal(world?.file, fixture('functions', 'echo-hello-world.yaml'));
  assert.deepEqual(library.functions.get('echo::hello::nested1')?.function.action.output, {
    strategy: 'merge',
    format: { base_nested: 'nested1', nested1: 'foo' },
  });

  const { template } = await load('functions.yaml');
  const nested = step(template, 'nested');
  const { chain, finalType } = functionChain(nested.action.type, library);
  assert.deepEqual(
    chain.map((loaded) => loaded.name),
    ['echo::hello::nested1', 'echo::hello::nested2', 'echo::hello::world'],
  );
  assert.equal(finalType, 'echo');
  assert.deepEqual(customStatesOf(nested, library), [
    'CUSTOM_STATE1',
    'NESTED1_STATE',
    'NESTED2_STATE1',
    'NESTED2_STATE2',
  ]);
  assert.deepEqual(
    conditionsOf(nested, library).map((condition) => Object.values(condition.then)[0]),
    ['NESTED2_STATE1', 'NESTED2_STATE2', 'NESTED1_STATE', 'CUSTOM_STATE1'],
  );
  assert.deepEqual(preHookOf(step(template, 'preHook'), library), {
    type: 'echo',
    configuration: { output: { value: '42' } },
  });
  assert.equal(preHookOf(nested, library), undefined);
});

test('a function name is an unknown action type without its library; a plugin is known when the caller says so', () => {
  const text =
    'name: calls\ndescription: calls things\nsteps:\n  a:\n    action: { type: echo::hello::world }\n';
  assert.deepEqual(issueLines(loadTemplateText('calls.yaml', text, BUILTINS_ONLY).issues), [
    'calls.yaml:5:21: steps.a.action.type: unknown action type "echo::hello::world"',
  ]);
  const plugin = text.replace('echo::hello::world', 'fraud-score');
  const withPlugin = { ...BUILTINS_ONLY, isKnownAction: (type: string) => type === 'fraud-score' };
  assert.deepEqual(loadTemplateText('calls.yaml', plugin, withPlugin).issues, []);
});

test('positions map any field path to file:line:column, and survive JSON', async () => {
  const file = path.relative(
    process.cwd(),
    fileURLToPath(new URL('../../../templates/hello.yaml', import.meta.url)),
  );
  const hello = await loadTemplateFile(file, options);
  assert.ok(hello.template, issueLines(hello.issues).join('\n'));
  const { positions } = hello.template;
  const message = ['steps', 'greet', 'action', 'configuration', 'output', 'message'];
  assert.deepEqual(positions.at(message), { file, line: 30, column: 20 });
  assert.deepEqual(positions.keyAt(message), { file, line: 30, column: 11 });
  assert.deepEqual(positions.at(['steps', 'greet']), { file, line: 23, column: 3 });
  assert.deepEqual(positions.at(['steps', 'announce', 'dependencies', 0]), {
    file,
    line: 44,
    column: 20,
  });
  // A default (not written) is placed at its nearest written ancestor.
  assert.equal(positions.has(['steps', 'greet', 'retry_pattern']), false);
  assert.deepEqual(positions.at(['steps', 'greet', 'retry_pattern']), positions.at(['steps', 'greet']));
  const copy = PositionMap.fromJSON(
    JSON.parse(JSON.stringify(positions)) as ReturnType<PositionMap['toJSON']>,
  );
  assert.deepEqual(copy.at(message), positions.at(message));
});
