import { reservedTagOf } from '../engine/task-edits.ts';
import { TaskhostError } from '../errors.ts';

/** What the task, comment and batch routes share: schemas of their fields, and checks ajv cannot make. */

export const names = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
export const tagsSchema = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** µTask's comment and long-text bounds (utask.MinTextSize, MaxTextSizeLong). */
export const COMMENT_MIN = 3;
export const commentText = { type: 'string', maxLength: 100_000 } as const;

/** A comment of the request body: none when empty, else 3 to 100,000 characters (µTask's ValidText). */
export function checkComment(field: string, text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  if (text.length < COMMENT_MIN) {
    throw new TaskhostError(
      'TH_REQUEST_INVALID',
      `${field} must NOT have fewer than ${COMMENT_MIN} characters`,
    );
  }
  return text;
}

/** Refuses the tags the engine keeps for itself. */
export function checkTags(field: string, tags: Record<string, string> | undefined): void {
  const reserved = reservedTagOf(tags);
  if (reserved !== undefined) {
    throw new TaskhostError('TH_REQUEST_INVALID', `${field}/${reserved}: reserved for the engine`);
  }
}
