/**
 * Concealment of `config` items marked `secret` (SPEC section 8): every occurrence of a
 * secret value in what leaves the engine (step outputs, metadata, errors, log lines, the
 * task's result) is replaced by `***` before it is stored, so the API, the streams, the CLI
 * and the logs only ever see the mask. Steps still get the real value through `config`.
 */

export const MASK = '***';

/** Replaces each secret in a value (strings inside arrays and objects too); the same value when none. */
export type Masker = <T>(value: T) => T;

export const NO_MASK: Masker = (value) => value;

/** The texts to conceal of a secret item's value: itself, or each string and number inside it. */
export function secretTexts(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (typeof value === 'number' || typeof value === 'bigint') return [String(value)];
  if (Array.isArray(value)) return value.flatMap(secretTexts);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(secretTexts);
  return [];
}

export function maskerOf(secrets: readonly string[]): Masker {
  // Longest first: a secret containing another is masked whole.
  const texts = [...new Set(secrets.filter((text) => text !== ''))].sort((a, b) => b.length - a.length);
  if (texts.length === 0) return NO_MASK;
  const maskText = (text: string): string => {
    let masked = text;
    for (const secret of texts) if (masked.includes(secret)) masked = masked.split(secret).join(MASK);
    return masked;
  };
  const mask = (value: unknown): unknown => {
    if (typeof value === 'string') return maskText(value);
    if (Array.isArray(value)) return value.map(mask);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [maskText(key), mask(item)]));
    }
    return value;
  };
  return <T>(value: T): T => mask(value) as T;
}
