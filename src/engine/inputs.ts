import { compileGoRegex } from '../expr/go-regex.ts';
import type { Input } from '../template/types.ts';

/**
 * A task's inputs checked against the template's (µTask engine/input Input.CheckValue):
 * required inputs present (or defaulted), types, collections, legal values and regexes.
 * Inputs the template does not declare are dropped, as µTask does. Returns the values to
 * store, or throws an Error naming the input.
 */
export function checkInputValues(
  declared: readonly Input[],
  given: Record<string, unknown>,
  root = 'input',
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const input of declared) {
    let value = given[input.name];
    if (value === undefined || value === null || value === '') {
      if (input.default !== undefined) value = input.default;
      else if (input.optional) continue;
      else throw new Error(`${root}.${input.name}: missing (required by the template)`);
    }
    if (input.collection) {
      const items = Array.isArray(value)
        ? value
        : typeof value === 'string'
          ? value.split(',').map((item) => item.trim())
          : [value];
      values[input.name] = items.map((item, index) =>
        checkOne(input, item, `${root}.${input.name}[${index}]`),
      );
    } else {
      if (Array.isArray(value)) {
        throw new Error(`${root}.${input.name}: a single value is expected, not a list`);
      }
      values[input.name] = checkOne(input, value, `${root}.${input.name}`);
    }
  }
  return values;
}

function checkOne(input: Input, value: unknown, where: string): unknown {
  let typed: unknown = value;
  switch (input.type) {
    case 'number': {
      const number = typeof value === 'number' ? value : Number(String(value).trim());
      if (typeof value === 'boolean' || !Number.isFinite(number) || String(value).trim() === '') {
        throw new Error(`${where}: ${JSON.stringify(value)} is not a number`);
      }
      typed = number;
      break;
    }
    case 'bool': {
      if (typeof value === 'boolean') break;
      const text = String(value).trim().toLowerCase();
      if (text !== 'true' && text !== 'false') {
        throw new Error(`${where}: ${JSON.stringify(value)} is not a boolean (true or false)`);
      }
      typed = text === 'true';
      break;
    }
    default:
      if (typeof value === 'object') throw new Error(`${where}: a string is expected`);
      typed = String(value);
  }
  if (
    input.legal_values &&
    input.legal_values.length > 0 &&
    !input.legal_values.some((legal) => String(legal) === String(typed))
  ) {
    throw new Error(
      `${where}: ${JSON.stringify(typed)} is not one of ${input.legal_values.map((legal) => JSON.stringify(legal)).join(', ')}`,
    );
  }
  if (input.regex && !compileGoRegex(`^(?:${input.regex})$`).test(String(typed))) {
    throw new Error(
      `${where}: ${JSON.stringify(typed)} does not match the regular expression ${input.regex}`,
    );
  }
  return typed;
}
