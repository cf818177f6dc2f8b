/**
 * Reading parsed YAML defensively: semantic checks run on data whose shape may be wrong
 * (the shape check reports that), so they look only at values of the type they expect.
 */

export type Data = Record<string, unknown>;

export function isRecord(value: unknown): value is Data {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The entries of a map, or none. */
export function entriesOf(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.entries(value) : [];
}

/** The items of a list, or none. */
export function itemsOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The string items of a list, with their indexes. */
export function stringItems(value: unknown): [number, string][] {
  return itemsOf(value).flatMap((item, index): [number, string][] =>
    typeof item === 'string' ? [[index, item]] : [],
  );
}
