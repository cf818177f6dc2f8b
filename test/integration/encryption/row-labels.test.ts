import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createTestDatabase } from '../../helpers/store.ts';

const { store } = await createTestDatabase();

/** An encrypted value as the codec stores it (`th1:<label>:<base64>`); its content does not matter here. */
const sealed = (label: string): string => `th1:${label}:AAAA`;

/** The key_label PostgreSQL generates for a task row with these title, input and result. */
async function taskLabel(title: string, input: unknown, result: unknown): Promise<string | null> {
  const id = randomUUID();
  const { rows } = await store.query<{ key_label: string | null }>(
    `INSERT INTO task (id, title, state, template_name, requester_username, input, result)
     VALUES ($1, $2, 'TODO', 'labels', 'someone', $3::jsonb, $4::jsonb) RETURNING key_label`,
    [id, title, JSON.stringify(input), result === undefined ? null : JSON.stringify(result)],
  );
  return rows[0]?.key_label ?? null;
}

test("a row's key_label: its values' one label, '' while one is in clear, '*' under several keys", async () => {
  assert.equal(await taskLabel(sealed('k1-aa'), sealed('k1-aa'), sealed('k1-aa')), 'k1-aa');
  assert.equal(
    await taskLabel(sealed('k1-aa'), sealed('k1-aa'), undefined),
    'k1-aa',
    'an absent result has no label',
  );
  assert.equal(await taskLabel('in clear', sealed('k1-aa'), undefined), '', 'a value in clear');
  assert.equal(await taskLabel(sealed('k2-bb'), sealed('k1-aa'), undefined), '*', 'two keys');
  assert.equal(await taskLabel(sealed('k1-aa'), 'plain', sealed('k2-bb')), '', 'clear wins over mixed keys');
});

test('a row without encryptable values has no label, and an update relabels the row', async () => {
  const runId = randomUUID();
  const inserted = await store.query<{ key_label: string | null }>(
    `INSERT INTO run (id, plugin_name, origin, state) VALUES ($1, 'echo', 'cli', 'TODO') RETURNING key_label`,
    [runId],
  );
  assert.equal(inserted.rows[0]?.key_label, null);
  const updated = await store.query<{ key_label: string | null }>(
    `UPDATE run SET data = $2::jsonb, result = $3::jsonb WHERE id = $1 RETURNING key_label`,
    [runId, JSON.stringify(sealed('k3-cc')), JSON.stringify(sealed('k3-cc'))],
  );
  assert.equal(updated.rows[0]?.key_label, 'k3-cc');
  const rekeyed = await store.query<{ key_label: string | null }>(
    `UPDATE run SET result = $2::jsonb WHERE id = $1 RETURNING key_label`,
    [runId, JSON.stringify(sealed('k4-dd'))],
  );
  assert.equal(rekeyed.rows[0]?.key_label, '*');
});
