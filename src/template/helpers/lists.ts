/**
 * sprig's list.go: lists are Go slices, never changed in place (append gives a new list).
 * A function given something that is not a list fails, as sprig's do (its non-`must`
 * forms panic, which text/template reports as an error); `has` on nil is false.
 */
import { asList, deepEqual, goKindOf, isNil, toInt64 } from './go-values.ts';
import { expectArgs, fixed, HelperError, int, type Helper, type HelperTable } from './helper.ts';

function listOf(value: unknown, what: string): unknown[] {
  const items = asList(value);
  if (items === undefined) throw new HelperError(`Cannot ${what} on type ${goKindOf(value)}`);
  return items;
}

function uniq(items: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const item of items) if (!out.some((seen) => deepEqual(seen, item))) out.push(item);
  return out;
}

function slice(list: unknown, indices: readonly unknown[]): unknown {
  const items = asList(list);
  if (items === undefined) {
    throw new HelperError(`list should be type of slice or array but ${goKindOf(list)}`);
  }
  if (items.length === 0) return null;
  const start = indices.length > 0 ? int(indices[0]) : 0;
  const end = indices.length > 1 ? int(indices[1]) : items.length;
  if (start < 0 || end > items.length || start > end) {
    throw new HelperError(`slice bounds out of range [${start}:${end}] with capacity ${items.length}`);
  }
  return items.slice(start, end);
}

function chunk(size: number, list: unknown): unknown[][] {
  const items = listOf(list, 'chunk');
  if (size <= 0) throw new HelperError('chunk size must be positive');
  const out: unknown[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** sprig's untilStep: from start towards stop (excluded) by step; empty when step goes the wrong way. */
export function untilStep(start: number, stop: number, step: number): number[] {
  const out: number[] = [];
  if (stop < start) {
    if (step >= 0) return out;
    for (let i = start; i > stop; i += step) out.push(i);
    return out;
  }
  if (step <= 0) return out;
  for (let i = start; i < stop; i += step) out.push(i);
  return out;
}

const both = (table: Record<string, Helper>, name: string, helper: Helper): void => {
  table[name] = helper;
  table[`must${name[0]?.toUpperCase()}${name.slice(1)}`] = helper;
};

const table: Record<string, Helper> = {
  list: (args) => [...args],
  tuple: (args) => [...args],
  concat: (args) => args.flatMap((list) => listOf(list, 'concat')),
  until: fixed(1, (count) => {
    const n = int(count);
    return untilStep(0, n, n < 0 ? -1 : 1);
  }),
  untilStep: fixed(3, (start, stop, step) => untilStep(int(start), int(stop), int(step))),
  has: fixed(2, (needle, haystack) =>
    isNil(haystack) ? false : listOf(haystack, 'has').some((item) => deepEqual(item, needle)),
  ),
  mustHas: fixed(2, (needle, haystack) =>
    isNil(haystack) ? false : listOf(haystack, 'has').some((item) => deepEqual(item, needle)),
  ),
};
both(
  table,
  'append',
  fixed(2, (list, value) => [...listOf(list, 'push'), value]),
);
both(
  table,
  'push',
  fixed(2, (list, value) => [...listOf(list, 'push'), value]),
);
both(
  table,
  'prepend',
  fixed(2, (list, value) => [value, ...listOf(list, 'prepend')]),
);
both(
  table,
  'first',
  fixed(1, (list) => listOf(list, 'find first')[0] ?? null),
);
both(
  table,
  'last',
  fixed(1, (list) => listOf(list, 'find last').at(-1) ?? null),
);
both(
  table,
  'rest',
  fixed(1, (list) => {
    const items = listOf(list, 'find rest');
    return items.length === 0 ? null : items.slice(1);
  }),
);
both(
  table,
  'initial',
  fixed(1, (list) => {
    const items = listOf(list, 'find initial');
    return items.length === 0 ? null : items.slice(0, -1);
  }),
);
both(
  table,
  'reverse',
  fixed(1, (list) => [...listOf(list, 'find reverse')].reverse()),
);
both(
  table,
  'uniq',
  fixed(1, (list) => uniq(listOf(list, 'find uniq'))),
);
both(table, 'without', (args, call) => {
  expectArgs(call.name, args, 1, Infinity);
  return listOf(args[0], 'find without').filter(
    (item) => !args.slice(1).some((omit) => deepEqual(omit, item)),
  );
});
both(table, 'slice', (args, call) => {
  expectArgs(call.name, args, 1, 3);
  return slice(args[0], args.slice(1));
});
both(
  table,
  'chunk',
  fixed(2, (size, list) => chunk(toInt64(size), list)),
);

export const listHelpers: HelperTable = table;
