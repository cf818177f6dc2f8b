import type { JsonSchema, TemplateInput } from './types.ts';

/**
 * A template's inputs (µTask's: name, description, type string|number|bool, collection,
 * legal_values, regex, default, optional, hidden) as the JSON Schema the form library draws
 * and checks before anything is sent. The server checks them again (src/engine/inputs.ts);
 * hidden inputs are left to their defaults, as µTask's UI does.
 */
export function inputsSchema(inputs: readonly TemplateInput[], title: string): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const input of inputs) {
    if (input.hidden) continue;
    const one: JsonSchema = {
      type: input.type === 'number' ? 'number' : input.type === 'bool' ? 'boolean' : 'string',
    };
    if (input.legal_values && input.legal_values.length > 0) one.enum = input.legal_values;
    if (input.regex && one.type === 'string' && isRegex(input.regex)) {
      one.pattern = `^(?:${input.regex})$`;
      one.options = { patternmessage: `must match ${input.regex}` };
    }
    const property: JsonSchema = input.collection ? { type: 'array', items: one, format: 'table' } : one;
    property.title = input.name;
    if (input.description) property.description = input.description;
    if (input.default !== undefined) property.default = input.default;
    if (input.collection && !input.optional && input.default === undefined) property.minItems = 1;
    if (!input.optional && input.default === undefined) {
      required.push(input.name);
      if (one.type === 'string' && !input.collection && !one.enum) property.minLength = 1;
    }
    properties[input.name] = property;
  }
  return { type: 'object', title, properties, required };
}

/** Whether a template's regex (Go syntax) is one the browser can check too. */
function isRegex(text: string): boolean {
  try {
    new RegExp(`^(?:${text})$`, 'u');
    return true;
  } catch {
    return false;
  }
}
