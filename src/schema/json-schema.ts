import { Ajv, type ValidateFunction } from 'ajv';
import { _ } from 'ajv/dist/compile/codegen/index.js';
import standaloneModule from 'ajv/dist/standalone/index.js';
import type { Ajv2019 } from 'ajv/dist/2019.js';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { formatSchemaErrors } from './schema-errors.ts';

/**
 * JSON Schema compilation for plugin inputs and outputs (and, later, templates), as lenient
 * as real plugins need: unknown keywords are ignored (a shell heredoc that expands
 * `$schema` to nothing leaves an empty key), and the draft is picked from `$schema`:
 * draft-04 (µTask's templates use it: `exclusiveMinimum: true`, `id`), draft-06, draft-07
 * (the default), 2019-09 and 2020-12. A schema that declares no draft is read as draft-07,
 * or as draft-04 when only draft-04 makes sense of it.
 *
 * Validators are compiled from the schema by each process and cached in memory by a hash
 * of the schema; no code is ever stored or loaded from the database.
 */

// ajv-formats and ajv's standalone module are CommonJS; under NodeNext their default import
// is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const standaloneCode = (
  standaloneModule as unknown as { default: (ajv: Ajv, validate: ValidateFunction) => string }
).default;
const require = createRequire(import.meta.url);

export type Draft = 'draft-04' | 'draft-06' | 'draft-07' | '2019-09' | '2020-12';

const instances = new Map<Draft, Ajv>();
const cache = new Map<string, ValidateFunction>();
const CACHE_LIMIT = 512;

function declaredDraft(schema: Record<string, unknown>): Draft | null {
  const declared = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (declared.includes('2020-12')) return '2020-12';
  if (declared.includes('2019-09')) return '2019-09';
  if (declared.includes('draft-04')) return 'draft-04';
  if (declared.includes('draft-06')) return 'draft-06';
  if (declared.includes('draft-07')) return 'draft-07';
  return null;
}

function ajvFor(draft: Draft): Ajv {
  let ajv = instances.get(draft);
  if (ajv) return ajv;
  // The meta-schema check runs when a plugin registers (checkSchema), not on every compile.
  // `code.source` keeps each validator's source for standaloneCode (validator-cache.ts);
  // format checks are then required from ajv-formats by the generated code.
  const options = {
    strict: false,
    allErrors: true,
    validateSchema: false,
    code: { source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` },
  } as const;
  // The other drafts' classes load only when a schema asks for them (ajv is CommonJS).
  if (draft === '2020-12') {
    ajv = new (require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020(options);
  } else if (draft === '2019-09') {
    ajv = new (require('ajv/dist/2019.js') as { Ajv2019: typeof Ajv2019 }).Ajv2019(options);
  } else if (draft === 'draft-04') {
    const { default: AjvDraft04 } = require('ajv-draft-04') as { default: typeof Ajv };
    ajv = new AjvDraft04(options);
  } else {
    ajv = new Ajv(options);
    if (draft === 'draft-06') {
      ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as Record<string, unknown>);
    }
  }
  addFormats(ajv);
  instances.set(draft, ajv);
  return ajv;
}

interface Normalised {
  draft: Draft;
  body: Record<string, unknown>;
}

/** Draft-04 marks: a boolean exclusiveMinimum/Maximum, or `id` where later drafts say `$id`. */
function looksLikeDraft04(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(looksLikeDraft04);
  const record = value as Record<string, unknown>;
  if (typeof record.exclusiveMinimum === 'boolean' || typeof record.exclusiveMaximum === 'boolean') {
    return true;
  }
  if (typeof record.id === 'string' && record.$id === undefined && record.id.includes('#')) return true;
  return Object.values(record).some(looksLikeDraft04);
}

function normalise(schema: unknown): Normalised {
  if (typeof schema === 'boolean') schema = schema ? {} : { not: {} };
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new Error('a JSON Schema must be an object');
  }
  const record = schema as Record<string, unknown>;
  const draft = declaredDraft(record) ?? (looksLikeDraft04(record) ? 'draft-04' : 'draft-07');
  // ajv's default class knows draft-07's meta-schema by URI, and draft-06's once added; a
  // `$schema` it does not know (a misspelt or empty one) would be an error, so it goes.
  const { $schema, ...rest } = record;
  const keep =
    (draft === '2019-09' || draft === '2020-12' || draft === 'draft-06') && typeof $schema === 'string';
  return { draft, body: keep ? { $schema, ...rest } : rest };
}

function hashOf(schema: unknown): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('base64url');
}

/**
 * Checks a schema against its draft's meta-schema and compiles it; throws an Error that
 * says what is wrong (and under which draft it was read). Used when a plugin registers.
 */
export function checkSchema(schema: unknown): Draft {
  const { draft, body } = normalise(schema);
  const ajv = ajvFor(draft);
  if (!ajv.validateSchema(body)) throw new Error(`${formatSchemaErrors(ajv.errors)} (read as ${draft})`);
  try {
    compileSchema(schema);
  } catch (error) {
    throw new Error(`${(error as Error).message} (read as ${draft})`, { cause: error });
  }
  return draft;
}

/** Compiles a schema (cached by its hash) or throws an Error whose message says what is wrong. */
export function compileSchema(schema: unknown): ValidateFunction {
  const key = hashOf(schema);
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

/**
 * A schema's validator as standalone CommonJS code (what ajv compiled, with its runtime
 * helpers required by name), for validator-cache.ts to keep on disk and load without ajv.
 */
export function standaloneValidatorCode(schema: unknown): string {
  const validate = compileSchema(schema);
  return standaloneCode(ajvFor(normalise(schema).draft), validate);
}
