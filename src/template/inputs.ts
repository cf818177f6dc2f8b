import { parseGoDurationMs } from '../expr/duration.ts';
import type { IssueList } from './errors.ts';
import { isRecord, itemsOf } from './data.ts';
import { compileGoRegex } from '../expr/go-regex.ts';
import type { FieldPath } from './types.ts';

/**
 * Checks of inputs and variables beyond their shape (µTask engine/input Input.Valid and
 * tasktemplate validateVariables): unique names, regex XOR legal_values, regexes that
 * compile, legal and default values of the declared type, value XOR expression.
 */

export function checkInputs(inputs: unknown, path: FieldPath, issues: IssueList): void {
  const seen = new Set<string>();
  itemsOf(inputs).forEach((input, index) => {
    if (!isRecord(input)) return;
    const at = [...path, index];
    if (typeof input.name === 'string') {
      if (seen.has(input.name)) issues.add([...at, 'name'], `input "${input.name}" is declared twice`);
      seen.add(input.name);
    }
    if (typeof input.regex === 'string') {
      if (Array.isArray(input.legal_values) && input.legal_values.length > 0) {
        issues.add([...at, 'regex'], 'an input has a regex or legal_values, not both');
      }
      try {
        compileGoRegex(input.regex);
      } catch (error) {
        issues.add(
          [...at, 'regex'],
          `invalid regular expression ${JSON.stringify(input.regex)}: ${(error as Error).message}`,
        );
      }
    }
    const type = typeof input.type === 'string' ? input.type : 'string';
    itemsOf(input.legal_values).forEach((value, valueIndex) => {
      const wrong = typeMismatch(type, value);
      if (wrong) issues.add([...at, 'legal_values', valueIndex], wrong);
    });
    if (input.default !== undefined && input.default !== null) {
      checkDefault(input, type, [...at, 'default'], issues);
    }
  });
}

function checkDefault(
  input: Record<string, unknown>,
  type: string,
  path: FieldPath,
  issues: IssueList,
): void {
  const values = input.collection === true ? input.default : [input.default];
  if (!Array.isArray(values)) {
    issues.add(path, 'the default of a collection input must be a list');
    return;
  }
  for (const value of values) {
    const wrong = typeMismatch(type, value);
    if (wrong) {
      issues.add(path, wrong);
      return;
    }
    const legal = itemsOf(input.legal_values);
    if (legal.length > 0 && !legal.includes(value)) {
      issues.add(path, `default ${JSON.stringify(value)} is not one of the legal_values`);
      return;
    }
    if (typeof input.regex === 'string') {
      try {
        if (!compileGoRegex(input.regex).test(String(value))) {
          issues.add(path, `default ${JSON.stringify(value)} does not match the regex`);
          return;
        }
      } catch {
        return; // reported on the regex
      }
    }
  }
}

/** Why a value does not fit an input type ('' when it does), as µTask's checkValueType. */
function typeMismatch(type: string, value: unknown): string {
  const expected: Record<string, [string, string]> = {
    string: ['string', 'a string'],
    password: ['string', 'a string'],
    number: ['number', 'a number'],
    bool: ['boolean', 'true or false'],
  };
  const [jsType, words] = expected[type] ?? ['string', 'a string'];
  return typeof value === jsType
    ? ''
    : `${JSON.stringify(value)} is not ${words} (the input's type is ${type})`;
}

export function checkVariables(variables: unknown, path: FieldPath, issues: IssueList): void {
  const seen = new Set<string>();
  itemsOf(variables).forEach((variable, index) => {
    if (!isRecord(variable)) return;
    const at = [...path, index];
    const name = typeof variable.name === 'string' ? variable.name : `#${index}`;
    if (typeof variable.name === 'string') {
      if (seen.has(name)) issues.add([...at, 'name'], `variable "${name}" is declared twice`);
      seen.add(name);
    }
    const hasValue = variable.value !== undefined && variable.value !== null;
    const hasExpression = typeof variable.expression === 'string' && variable.expression !== '';
    if (hasValue && hasExpression) {
      issues.add(at, `variable "${name}" has a value and an expression: give one`);
    } else if (!hasValue && !hasExpression) {
      issues.add(at, `variable "${name}" needs a value or an expression`);
    }
    if (typeof variable.expression_timeout === 'string') {
      const where = [...at, 'expression_timeout'];
      if (!hasExpression) issues.add(where, 'expression_timeout goes with an expression');
      try {
        if (parseGoDurationMs(variable.expression_timeout) <= 0) {
          issues.add(where, 'expression_timeout must be positive');
        }
      } catch (error) {
        issues.add(where, (error as Error).message);
      }
    }
  });
}
