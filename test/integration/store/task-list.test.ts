import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listTasks, type TaskListFilter } from '../../../src/store/queries/task-list.ts';
import type { Queryable } from '../../../src/store/store.ts';
import { createFromYaml } from '../../helpers/engine.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * The task list query: whose tasks each µTask list type shows a user who is not an admin,
 * and the plan of a first page over 100,000 tasks (an index in the list's order, no sort).
 */

const { store } = await createTestDatabase();

const NOTE = 'name: note\ndescription: a note\nsteps:\n  a: {action: {type: echo}}\n';

/** A task with these parties (and a tag that keeps this test's tasks apart). */
async function taskWith(parties: Record<string, unknown>): Promise<string> {
  const { taskId } = await createFromYaml(store, NOTE);
  const columns = { requester_username: 'nobody', ...parties };
  const sets = Object.keys(columns).map((column, index) => `${column} = $${index + 2}`);
  await store.query(`UPDATE task SET tags = '{"suite": "audience"}', ${sets.join(', ')} WHERE id = $1`, [
    taskId,
    ...Object.values(columns),
  ]);
  return taskId;
}

test("the audiences of µTask's list types: requester, resolver, involved", async () => {
  const requested = await taskWith({ requester_username: 'ann' });
  const watched = await taskWith({ watcher_usernames: ['ann'] });
  const groupWatched = await taskWith({ watcher_groups: ['audit'] });
  const resolver = await taskWith({ resolver_usernames: ['ann'] });
  const groupResolver = await taskWith({ resolver_groups: ['ops'] });
  const owned = await taskWith({ template_name: 'owned' });
  await taskWith({});

  const page = async (audience: TaskListFilter['audience']): Promise<Set<string>> =>
    new Set(
      (await listTasks(store, { tags: { suite: 'audience' }, audience, pageSize: 100 })).map(
        (task) => task.id,
      ),
    );
  const ann = { username: 'ann', groups: ['audit', 'ops'], templates: [] };
  assert.deepEqual(await page({ kind: 'requester', ...ann }), new Set([requested, watched]));
  assert.deepEqual(await page({ kind: 'resolver', ...ann }), new Set([resolver, groupResolver]));
  assert.deepEqual(
    await page({ kind: 'resolver', username: 'carol', groups: [], templates: ['owned'] }),
    new Set([owned]),
  );
  assert.deepEqual(
    await page({ kind: 'involved', ...ann }),
    new Set([requested, watched, groupWatched, resolver, groupResolver]),
  );
  assert.deepEqual(await page({ kind: 'involved', username: 'bob', groups: [], templates: [] }), new Set());
  assert.equal((await page(undefined)).size, 7, 'no audience: every task');
});

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

/** The plan PostgreSQL chooses for the query listTasks sends (EXPLAIN only: nothing timed). */
async function planOf(filter: TaskListFilter): Promise<PlanNode[]> {
  let plan: PlanNode | undefined;
  const explaining: Queryable = {
    query: async (text: string, values?: unknown[]) => {
      const result = await store.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) ${text}`,
        values,
      );
      plan = result.rows[0]?.['QUERY PLAN'][0].Plan;
      return { ...result, rows: [] };
    },
    codec: store.codec,
  } as Queryable;
  await listTasks(explaining, filter);
  return nodesOf(plan as PlanNode);
}

test('the first page of 100,000 tasks reads an index in the list order and sorts nothing, filtered or not', async () => {
  await store.query(
    `INSERT INTO task (id, template_name, title, state, requester_username, created_at)
     SELECT gen_random_uuid(), 'bench-' || (n % 10), 'bench', CASE WHEN n % 3 = 0 THEN 'DONE' ELSE 'TODO' END,
            'bench', now() - n * interval '1 second'
       FROM generate_series(1, 100000) AS n`,
  );
  await store.query('ANALYZE task');
  const { rows } = await store.query<{ id: string }>(
    `SELECT id FROM task WHERE template_name LIKE 'bench-%' ORDER BY created_at DESC, id DESC OFFSET 500 LIMIT 1`,
  );
  const last = rows[0]?.id as string;
  const own = { kind: 'requester' as const, username: 'bench', groups: [], templates: [] };
  for (const filter of [
    { pageSize: 20 },
    { pageSize: 20, last },
    { pageSize: 20, audience: own },
    { pageSize: 20, state: 'TODO' },
    { pageSize: 20, template: 'bench-3' },
    { pageSize: 20, template: 'bench-3', state: 'DONE', last },
  ] satisfies TaskListFilter[]) {
    const nodes = await planOf(filter);
    const label = JSON.stringify(filter);
    assert.deepEqual(
      nodes.filter((node) => node['Node Type'].includes('Sort')),
      [],
      `${label}: no sort`,
    );
    // The page's scan (`last`'s lookup by primary key aside).
    const scans = nodes.filter(
      (node) => node['Relation Name'] === 'task' && node['Index Name'] !== 'task_pkey',
    );
    assert.equal(scans.length, 1, `${label}: ${JSON.stringify(nodes)}`);
    assert.match(scans[0]?.['Node Type'] ?? '', /^Index (Only )?Scan$/, `${label}: ${JSON.stringify(nodes)}`);
    assert.match(scans[0]?.['Index Name'] ?? '', /^task_(template_|requester_)?created_idx$/, label);
  }
});
