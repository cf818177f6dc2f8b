import { Ajv, type ValidateFunction } from 'ajv';
import { _ } from 'ajv/dist/compile/codegen/index.js';
import standaloneModule from 'ajv/dist/standalone/index.js';
import type { Ajv2019 } from 'ajv/dist/2019.js';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { createRequire } from 'node:module';
import { formatSchemaErrors } from './validator.ts';

/**
 * JSON Schema compilation for plugin inputs and outputs, as lenient as real plugins need:
 * unknown keywords are ignored (a shell heredoc that expands `$schema` to nothing leaves an
 * empty key), and the draft is picked from `$schema` (07 by default, 2019-09, 2020-12;
 * other drafts are read as 07). Compiled validators are cached by schema text.
 */

// ajv-formats and ajv's standalone module are CommonJS; under NodeNext their default
// import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const standaloneCode = (
  standaloneModule as unknown as { default: (ajv: Ajv, validate: ValidateFunction) => string }
).default;

type Draft = 'draft-07' | '2019-09' | '2020-12';

const instances = new Map<Draft, Ajv>();
const cache = new Map<string, ValidateFunction>();
const CACHE_LIMIT = 512;

function draftOf(schema: Record<string, unknown>): Draft {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (declared.includes('2020-12')) return '2020-12';
  if (declared.includes('2019-09')) return '2019-09';
  return 'draft-07';
}

function ajvFor(draft: Draft): Ajv {
  let ajv = instances.get(draft);
  if (!ajv) {
    // The meta-schema check costs ~40 ms on first use: it runs once, at registration
    // (checkSchema below), not on every run's compile.
    // `code.source` keeps each validator's source for standalone export; format checks are
    // then required from ajv-formats by the generated code.
    const options = {
      strict: false,
      allErrors: true,
      validateSchema: false,
      code: { source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` },
    } as const;
    // The 2019-09 and 2020-12 classes load only when a schema asks for them (ajv is CommonJS).
    const require = createRequire(import.meta.url);
    if (draft === '2020-12') {
      ajv = new (require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020(options);
    } else if (draft === '2019-09') {
      ajv = new (require('ajv/dist/2019.js') as { Ajv2019: typeof Ajv2019 }).Ajv2019(options);
    } else {
      ajv = new Ajv(options);
    }
    addFormats(ajv);
    instances.set(draft, ajv);
  }
  return ajv;
}

function normalise(schema: unknown): { draft: Draft; body: Record<string, unknown> } {
  if (typeof schema === 'boolean') schema = schema ? {} : { not: {} };
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new Error('a JSON Schema must be an object');
  }
  const draft = draftOf(schema as Record<string, unknown>);
  // Drafts ajv does not know (04, 06) are read as 07: their keywords are nearly the same.
  const { $schema, ...rest } = schema as Record<string, unknown>;
  return { draft, body: draft === 'draft-07' ? rest : { $schema, ...rest } };
}

/**
 * Checks a schema against its draft's meta-schema and compiles it; throws an Error that
 * says what is wrong. Used when a plugin registers, so that runs can skip the check.
 */
export function checkSchema(schema: unknown): void {
  const { draft, body } = normalise(schema);
  const ajv = ajvFor(draft);
  if (!ajv.validateSchema(body)) throw new Error(formatSchemaErrors(ajv.errors));
  compileSchema(schema);
}

/** Compiles a schema or throws an Error whose message says what is wrong with it. */
export function compileSchema(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  const cached = cache.get(key);
  if (cached) return cached;
  const { draft, body } = normalise(schema);
  const validate = ajvFor(draft).compile(body);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(key, validate);
  return validate;
}

/** Validates a value; null when it is valid, else the formatted violations (see formatSchemaErrors). */
export function checkAgainst(schema: unknown, value: unknown, prefix = ''): string | null {
  const validate = compileSchema(schema);
  return validate(value) ? null : formatSchemaErrors(validate.errors, prefix);
}

/** A schema's validator as standalone CommonJS code, for validator.ts to load later. */
export function standaloneValidator(schema: unknown): string {
  const validate = compileSchema(schema);
  const { draft } = normalise(schema);
  return standaloneCode(ajvFor(draft), validate);
}
