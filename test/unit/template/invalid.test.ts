import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { formatIssue, templateInvalidError } from '../../../src/template/errors.ts';
import { loadFunctions } from '../../../src/template/function-load.ts';
import { loadTemplateFile, loadTemplateFiles, loadTemplateText } from '../../../src/template/load.ts';
import { BUILTINS_ONLY, fixture, issueLines } from '../../helpers/templates.ts';

/**
 * One fixture per rejection rule (test/fixtures/templates/invalid/<rule>.yaml), each with
 * the exact lines it must produce: file:line:column, the field, the message. Functions
 * templates call come from test/fixtures/templates/functions/.
 */

const EXPECTED: Record<string, string[]> = {
  'yaml-syntax': ['invalid/yaml-syntax.yaml:7:1: YAML: All mapping items must start at the same column'],
  'duplicate-key': ['invalid/duplicate-key.yaml:6:3: YAML: Map keys must be unique'],
  empty: [
    'invalid/empty.yaml:1:1: the file is empty: a template is a map with at least name, description and steps',
  ],
  'unknown-key': [
    'invalid/unknown-key.yaml:7:5: steps.greet.dependecies: unknown key "dependecies" (did you mean "dependencies"?)',
  ],
  'missing-key': [
    'invalid/missing-key.yaml:1:1: missing required key "description"',
    'invalid/missing-key.yaml:3:3: steps.greet: missing required key "action"',
  ],
  'wrong-type': [
    'invalid/wrong-type.yaml:3:12: retry_max: must be an integer, not the string "many"',
    'invalid/wrong-type.yaml:6:20: steps.greet.custom_states: must be a list, not the string "DONE_OK"',
  ],
  'retry-pattern': [
    'invalid/retry-pattern.yaml:5:20: steps.greet.retry_pattern: must be seconds, minutes or hours, not "minute" (did you mean "minutes"?)',
  ],
  'foreach-strategy': [
    'invalid/foreach-strategy.yaml:6:23: steps.greet.foreach_strategy: must be parallel or sequence, not "serial"',
  ],
  'foreach-strategy-without-foreach': [
    'invalid/foreach-strategy-without-foreach.yaml:5:23: steps.greet.foreach_strategy: foreach_strategy goes with foreach, and this step has none',
  ],
  'condition-type': [
    'invalid/condition-type.yaml:7:15: steps.greet.conditions[0].type: must be skip or check, not "skipp" (did you mean "skip"?)',
  ],
  'condition-operator': [
    'invalid/condition-operator.yaml:10:23: steps.greet.conditions[0].if[0].operator: "EQQ": the operator is one of EQ NE GT LT GE LE REGEXP NOTREGEXP IN NOTIN (any case) (did you mean "EQ"?)',
  ],
  'dependency-unknown-step': [
    'invalid/dependency-unknown-step.yaml:7:20: steps.greet.dependencies[0]: unknown step "fecth" (did you mean "fetch"?)',
  ],
  'dependency-self': [
    'invalid/dependency-self.yaml:5:20: steps.greet.dependencies[0]: step "greet" depends on itself',
  ],
  'dependency-cycle': [
    'invalid/dependency-cycle.yaml:5:20: steps.one.dependencies[0]: dependency cycle: one -> three -> two -> one (each step depends on the next)',
  ],
  'dependency-unknown-state': [
    'invalid/dependency-unknown-state.yaml:8:20: steps.create.dependencies[0]: step "fetch" has no state "NOT_FOND" (did you mean "NOT_FOUND"?): a dependency waits for DONE, ANY or a custom state of "fetch" (NOT_FOUND)',
  ],
  'dependency-forbidden-state': [
    'invalid/dependency-forbidden-state.yaml:8:20: steps.create.dependencies[0]: a dependency cannot wait for "fetch" in state CLIENT_ERROR: it waits for DONE, ANY or a custom state of "fetch" (NOT_FOUND)',
  ],
  'dependency-any-and-state': [
    'invalid/dependency-any-and-state.yaml:7:20: steps.create.dependencies[0]: ANY cannot be combined with other states in "fetch:ANY,DONE"',
  ],
  'dependency-twice': [
    'invalid/dependency-twice.yaml:8:27: steps.create.dependencies[1]: "fetch" is already a dependency of "create": list its states once',
  ],
  'custom-state-builtin': [
    'invalid/custom-state-builtin.yaml:5:25: steps.greet.custom_states[1]: custom state "SERVER_ERROR" is a builtin state',
  ],
  'custom-state-format': [
    'invalid/custom-state-format.yaml:5:21: steps.greet.custom_states[0]: "not_found": a custom state is an upper-case word (A-Z, 0-9, _) starting with a letter',
  ],
  'action-unknown': [
    'invalid/action-unknown.yaml:6:13: steps.greet.action.type: unknown action type "ehco" (did you mean "echo"?)',
  ],
  'base-configuration-unknown': [
    'invalid/base-configuration-unknown.yaml:10:27: steps.greet.action.base_configuration: unknown base_configuration "postMesage" (did you mean "postMessage"?)',
  ],
  'output-merge-format': [
    'invalid/output-merge-format.yaml:9:17: steps.greet.action.output.format: with strategy merge, format must be a map (merged into the output)',
  ],
  'base-output-and-output': [
    'invalid/base-output-and-output.yaml:7:7: steps.greet.action.base_output: base_output and output are both set: base_output is the deprecated form of output {strategy: merge}, keep output',
  ],
  'condition-then-unknown-step': [
    'invalid/condition-then-unknown-step.yaml:11:17: steps.greet.conditions[0].then.fetc: unknown step "fetc" (did you mean "fetch"?)',
  ],
  'condition-then-own-name': [
    'invalid/condition-then-own-name.yaml:8:17: steps.greet.conditions[0].then.greet: a step names itself "this" in its conditions, not "greet"',
  ],
  'condition-then-off-chain': [
    'invalid/condition-then-off-chain.yaml:9:11: steps.stepOne.conditions[0].then.stepTwo: a condition of "stepOne" cannot set the state of "stepTwo": only the step itself, the steps it depends on and the steps depending on it (directly or not)',
  ],
  'condition-then-state': [
    'invalid/condition-then-state.yaml:9:23: steps.greet.conditions[0].then.this: a condition cannot set greet to "SHORTT": it sets DONE, PRUNE, TO_RETRY, RETRY_NOW, FATAL_ERROR, CLIENT_ERROR or a custom state of greet (SHORT) (did you mean "SHORT"?)',
  ],
  'condition-foreach-not-foreach-step': [
    'invalid/condition-foreach-not-foreach-step.yaml:8:18: steps.greet.conditions[0].foreach: foreach is for the conditions of a foreach step, and this step has no foreach',
  ],
  'condition-foreach-check': [
    'invalid/condition-foreach-check.yaml:9:18: steps.greet.conditions[0].foreach: foreach applies to skip conditions only (check conditions run on each child)',
  ],
  'condition-regexp': [
    'invalid/condition-regexp.yaml:12:23: steps.greet.conditions[0].if[0].expected: invalid regular expression "^(a|b": Unterminated group',
  ],
  'condition-integer': [
    'invalid/condition-integer.yaml:11:23: steps.greet.conditions[0].if[0].expected: GT compares integers, and "ten" is not one',
  ],
  'input-regex': [
    'invalid/input-regex.yaml:5:12: inputs[0].regex: invalid regular expression "[0-9": Unterminated character class',
  ],
  'input-regex-and-legal-values': [
    'invalid/input-regex-and-legal-values.yaml:5:12: inputs[0].regex: an input has a regex or legal_values, not both',
  ],
  'input-default': [
    'invalid/input-default.yaml:6:14: inputs[0].default: default "spanish" is not one of the legal_values',
    'invalid/input-default.yaml:9:14: inputs[1].default: "3" is not a number (the input\'s type is number)',
  ],
  'input-twice': ['invalid/input-twice.yaml:5:11: inputs[1].name: input "id" is declared twice'],
  'variable-value-and-expression': [
    'invalid/variable-value-and-expression.yaml:4:5: variables[0]: variable "english-message" has a value and an expression: give one',
  ],
  'variable-timeout': [
    'invalid/variable-timeout.yaml:6:25: variables[0].expression_timeout: unknown unit " seconds" in duration "5 seconds" (units: ns, us, ms, s, m, h)',
  ],
  'execution-delay': [
    'invalid/execution-delay.yaml:5:22: steps.greet.execution_delay: execution_delay must be between 0s and 20s, not 1m',
  ],
  'json-schema': [
    'invalid/json-schema.yaml:6:5: steps.greet.json_schema: the JSON Schema does not compile: /properties/id/type must be equal to one of the allowed values (read as draft-04)',
  ],
  'handlebars-syntax': [
    'invalid/handlebars-syntax.yaml:11:13: steps.greet.action.configuration.output.message: invalid Handlebars: {{#if input.formal}} is not closed (add {{/if}})',
  ],
  'handlebars-helper': [
    'invalid/handlebars-helper.yaml:9:21: steps.greet.action.configuration.output.message: invalid Handlebars: {{tojson input.name}}: unknown helper "tojson" (did you mean "toJson"?)',
  ],
  'handlebars-go-form': [
    'invalid/handlebars-go-form.yaml:10:37: steps.greet.action.configuration.output.message: invalid Handlebars in {{.input.name}}: unexpected "." (µTask\'s {{.input.name}} is written {{input.name}} here)',
  ],
  'reference-unknown': [
    'invalid/reference-unknown.yaml:14:29: steps.greet.action.configuration.output.message: {{input.nmae}}: unknown input "nmae" (did you mean "name"?)',
    'invalid/reference-unknown.yaml:14:45: steps.greet.action.configuration.output.message: {{step.fecth.output.id}}: unknown step "fecth" (did you mean "fetch"?)',
  ],
  'step-name-reserved': [
    'invalid/step-name-reserved.yaml:4:3: steps.this: the step name "this" is reserved: it means the current step',
  ],
  'step-name-colon': [
    'invalid/step-name-colon.yaml:4:3: steps["fetch:all"]: a step name cannot contain ":" or "," (dependencies use them): "fetch:all"',
  ],
  'auto-runnable-resolver-inputs': [
    'invalid/auto-runnable-resolver-inputs.yaml:3:16: auto_runnable: an auto_runnable template cannot have resolver_inputs (nobody would give them)',
  ],
  'allow-all-not-auto-runnable': [
    'invalid/allow-all-not-auto-runnable.yaml:3:31: allow_all_resolver_usernames: a template anybody may resolve must be auto_runnable: true (as in µTask)',
  ],
  'function-args-missing': [
    'invalid/function-args-missing.yaml:7:7: steps.greet.action.configuration: function "echo::hello::world" needs configuration.name (its action reads {{function_args.name}})',
  ],
  'pre-hook-twice': [
    'invalid/pre-hook-twice.yaml:5:5: steps.greet.pre_hook: function "echo::preHook" already has a pre_hook: a step runs one pre_hook, keep one of them',
  ],
  'function-state-dependency': [
    'invalid/function-state-dependency.yaml:8:20: steps.after.dependencies[0]: step "greet" has no state "STATE_HELLO": a dependency waits for DONE, ANY (it has no custom states)',
  ],
};

const { library } = await loadFunctions(fixture('functions'), BUILTINS_ONLY);
const options = { ...BUILTINS_ONLY, functions: library };

test('every invalid fixture has its expected lines here, and every rule here has its fixture', () => {
  const files = fs.readdirSync(fixture('invalid')).map((name) => name.replace(/\.yaml$/, ''));
  assert.deepEqual(files.sort(), Object.keys(EXPECTED).sort());
});

for (const [rule, lines] of Object.entries(EXPECTED)) {
  test(`invalid template: ${rule}`, async () => {
    const result = await loadTemplateFile(fixture('invalid', `${rule}.yaml`), options);
    assert.equal(result.template, undefined);
    assert.deepEqual(issueLines(result.issues), lines);
  });
}

test('functions: cycles, duplicates, builtin names, unknown types and keys, then on other steps, nested arguments, pre_hooks, Handlebars', async () => {
  const { library: broken, issues } = await loadFunctions(fixture('functions-invalid'), BUILTINS_ONLY);
  assert.deepEqual(issueLines(issues), [
    'functions-invalid/builtin-name.yaml:1:7: name: "echo" is already an action type (a builtin or a plugin): a function needs its own name',
    'functions-invalid/cycle-a.yaml:3:9: action.type: functions call each other in a cycle: cycle::a -> cycle::b -> cycle::a',
    'functions-invalid/cycle-b.yaml:3:9: action.type: functions call each other in a cycle: cycle::b -> cycle::a -> cycle::b',
    'functions-invalid/duplicate-1.yaml:1:7: name: function "twice" is also defined in functions-invalid/duplicate-2.yaml',
    'functions-invalid/duplicate-2.yaml:1:7: name: function "twice" is also defined in functions-invalid/duplicate-1.yaml',
    'functions-invalid/handlebars.yaml:5:23: action.configuration.output: invalid Handlebars in {{ .function_args.name }}: unexpected "." (µTask\'s {{.function_args.name}} is written {{function_args.name}} here)',
    'functions-invalid/nested-args-outer.yaml:4:3: action.configuration: function "args::inner" needs configuration.person.name (its action reads {{function_args.person.name}})',
    'functions-invalid/pre-hooks-outer.yaml:2:1: pre_hook: function "hooks::inner" already has a pre_hook: a step runs one pre_hook, keep one of them',
    'functions-invalid/then-other-step.yaml:8:7: conditions[0].then.stepOne: a function\'s condition can only set "this" (the step calling it), not "stepOne"',
    'functions-invalid/then-other-step.yaml:9:13: conditions[0].then.this: a condition cannot set this to "OKK": it sets DONE, PRUNE, TO_RETRY, RETRY_NOW, FATAL_ERROR, CLIENT_ERROR or a custom state of this (OK) (did you mean "OK"?)',
    'functions-invalid/unknown-action.yaml:3:9: action.type: unknown action type "ehco" (did you mean "echo"?)',
    'functions-invalid/unknown-key.yaml:4:1: custom_state: unknown key "custom_state" (did you mean "custom_states"?)',
  ]);
  // Only the two valid ones load; the others stay known names, so a template calling one
  // is not reported again for an unknown action type.
  assert.deepEqual([...broken.functions.keys()].sort(), ['args::inner', 'hooks::inner']);
  assert.ok(broken.invalid.has('cycle::a') && broken.invalid.has('twice') && broken.invalid.has('echo'));
});

test('two templates with one name (after trimming and lower-casing) are both refused, each naming the other', async () => {
  const files = ['first.yaml', 'other.yaml', 'second.yml'].map((name) => fixture('duplicates', name));
  const { templates, issues } = await loadTemplateFiles(files, BUILTINS_ONLY);
  assert.deepEqual([...templates.keys()], ['other']);
  assert.deepEqual(issueLines(issues), [
    'duplicates/first.yaml:1:7: name: template name "greeting" is also used by duplicates/second.yml',
    'duplicates/second.yml:1:7: name: template name "greeting" is also used by duplicates/first.yaml',
  ]);
});

test('every problem of a file is reported, in the order of the file', async () => {
  const text = [
    'name: several',
    'description: Several problems at once',
    'retry_max: -1',
    'steps:',
    '  a:',
    '    dependencies: [b, c]',
    '    action: { type: nope }',
    '  b:',
    '    dependencies: [a]',
    '    retry_pattern: weekly',
    '    action: { type: echo }',
  ].join('\n');
  const { issues } = loadTemplateText('several.yaml', text, BUILTINS_ONLY);
  assert.deepEqual(
    issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}`),
    [
      '3:12 retry_max',
      '6:20 steps.a.dependencies[0]',
      '6:23 steps.a.dependencies[1]',
      '7:21 steps.a.action.type',
      '10:20 steps.b.retry_pattern',
    ],
  );
});

test('the host error for an invalid template: TH_TEMPLATE_INVALID, the first line, every line in details', async () => {
  const result = await loadTemplateFile(fixture('invalid', 'missing-key.yaml'), options);
  const error = templateInvalidError(result.issues);
  assert.equal(error.code, 'TH_TEMPLATE_INVALID');
  assert.equal(
    error.message,
    `${fixture('invalid', 'missing-key.yaml')}:1:1: missing required key "description" (and 1 more)`,
  );
  assert.deepEqual(error.details, result.issues.map(formatIssue));
});

test('aliases: a document expanding beyond the alias limit is refused; an alias of its own ancestor does not loop', () => {
  const names = 'abcdefg';
  const bomb = [...names].map((name, index) =>
    index === 0
      ? 'a: &a [x, x, x, x, x, x, x, x, x, x]'
      : `${name}: &${name} [${Array(10)
          .fill(`*${names[index - 1]}`)
          .join(', ')}]`,
  );
  const refused = loadTemplateText('bomb.yaml', bomb.join('\n'), BUILTINS_ONLY);
  assert.match(issueLines(refused.issues)[0] ?? '', /^bomb\.yaml:1:1: YAML: Excessive alias count/);
  const looping = loadTemplateText(
    'loop.yaml',
    'name: &n loop\ndescription: *n\nsteps: &s {a: {action: {type: echo}, x: *s}}\n',
    BUILTINS_ONLY,
  );
  assert.match(issueLines(looping.issues).join('\n'), /steps\.a\.x: unknown key "x"/);
});
