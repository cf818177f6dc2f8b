/**
 * Where the encrypted values live (SPEC section 8, "Data at rest"; migration 0009): for each
 * table, its primary key and its encrypted columns. Rotation, conversion and `key list` go
 * through this list; the queries write and read the same columns through the codec.
 *
 * The order is the rotation's: the largest table (the event log) first.
 */

export interface EncryptedColumn {
  name: string;
  type: 'text' | 'jsonb';
}

export interface EncryptedTable {
  table: string;
  /** The primary key's columns and their types, to write a batch back. */
  key: readonly { name: string; type: string }[];
  columns: readonly EncryptedColumn[];
}

export const ENCRYPTED_TABLES: readonly EncryptedTable[] = [
  {
    table: 'event',
    key: [
      { name: 'stream_id', type: 'uuid' },
      { name: 'seq', type: 'bigint' },
    ],
    columns: [
      { name: 'line', type: 'text' },
      { name: 'data', type: 'jsonb' },
    ],
  },
  {
    table: 'run',
    key: [{ name: 'id', type: 'uuid' }],
    columns: [
      { name: 'data', type: 'jsonb' },
      { name: 'result', type: 'jsonb' },
      { name: 'error', type: 'text' },
    ],
  },
  {
    table: 'resolution_step',
    key: [
      { name: 'resolution_id', type: 'uuid' },
      { name: 'name', type: 'text' },
    ],
    columns: [
      { name: 'output', type: 'jsonb' },
      { name: 'metadata', type: 'jsonb' },
      { name: 'children', type: 'jsonb' },
      { name: 'item', type: 'jsonb' },
      { name: 'error', type: 'text' },
    ],
  },
  {
    table: 'resolution',
    key: [{ name: 'id', type: 'uuid' }],
    columns: [{ name: 'resolver_input', type: 'jsonb' }],
  },
  {
    table: 'task',
    key: [{ name: 'id', type: 'uuid' }],
    columns: [
      { name: 'title', type: 'text' },
      { name: 'input', type: 'jsonb' },
      { name: 'result', type: 'jsonb' },
    ],
  },
  {
    table: 'comment',
    key: [{ name: 'id', type: 'uuid' }],
    columns: [{ name: 'content', type: 'text' }],
  },
];
