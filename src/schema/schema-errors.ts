import type { ErrorObject } from 'ajv';

type Violation = Pick<ErrorObject, 'keyword' | 'instancePath' | 'params' | 'message'>;

/**
 * `/user must be string; /count must be >= 1`: one line, every violation with its path.
 * With a `prefix` the paths start there (`body/data/user`, `body/data` for the root), as
 * the API names the fields of a request.
 */
export function formatSchemaErrors(errors: readonly Violation[] | null | undefined, prefix = ''): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors
    .map((error) => {
      const where = `${prefix}${error.instancePath}` || '/';
      if (error.keyword === 'additionalProperties') {
        return `${where} has unknown property "${String(error.params.additionalProperty)}"`;
      }
      if (error.keyword === 'required') {
        return `${where} must have property "${String(error.params.missingProperty)}"`;
      }
      return `${where} ${error.message ?? 'is invalid'}`;
    })
    .join('; ');
}
