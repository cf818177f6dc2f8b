import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import type { RunDocument } from '../../../src/runs/document.ts';
import {
  startTestServer,
  waitForRun,
  type Envelope,
  type ErrorBody,
  type TestServer,
} from '../../helpers/api-server.ts';
import {
  fixturePath,
  pluginProcesses,
  tempDir,
  waitForFile,
  waitInDir,
} from '../../helpers/plugin-fixtures.ts';

/**
 * SPEC section 8, plugin routes, over a real listening server: registration and its
 * refusals, the list formats, sync and async runs, batches and their concurrency limit,
 * and the error bodies (`{"error", "code"}`, never a stack trace).
 */

const server: TestServer = await startTestServer();

type PluginDoc = Record<string, unknown> & { name: string; location: string; updated_at: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function assertErrorBody(body: unknown, code: string, message: RegExp | string): void {
  assert.ok(body !== null && typeof body === 'object', `an error body, got ${JSON.stringify(body)}`);
  const error = body as ErrorBody;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'error']);
  assert.equal(error.code, code, error.error);
  if (typeof message === 'string') {
    assert.ok(error.error.includes(message), `"${error.error}" names ${message}`);
  } else {
    assert.match(error.error, message);
  }
  assert.doesNotMatch(error.error, /\n\s+at /, 'no stack trace');
}

async function runCount(query = ''): Promise<number> {
  const { status, body } = await server.request<unknown[]>('GET', `/run${query}`);
  assert.equal(status, 200);
  return body.length;
}

/** Minimal RFC 4180 reader: quoted cells, doubled quotes, commas and newlines in quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] as string;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        cell += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += char;
    }
  }
  assert.equal(quoted, false, 'no unterminated quote');
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

test('POST /plugin registers: 201, then GET /plugin/:name shows its metadata and an absolute location', async () => {
  const relative = path.relative(process.cwd(), fixturePath('rich-metadata.sh'));
  assert.ok(!path.isAbsolute(relative));
  const created = await server.request<PluginDoc>('POST', '/plugin', { name: 'rich', location: relative });
  assert.equal(created.status, 201, created.text);

  const { status, body } = await server.request<PluginDoc>('GET', '/plugin/rich');
  assert.equal(status, 200);
  for (const doc of [created.body, body]) {
    assert.equal(doc.name, 'rich');
    assert.equal(doc.location, fixturePath('rich-metadata.sh'));
    assert.ok(path.isAbsolute(doc.location));
    assert.equal(doc.title, 'Rich metadata');
    assert.equal(doc.description, 'Echoes data.x; carries every optional metadata field.');
    assert.equal(doc.category, 'testing');
    assert.deepEqual(doc.tags, ['alpha', 'beta']);
    assert.equal(doc.dangerous, 'deletes nothing, but says it might, really');
    assert.equal(doc.expensive, true);
    assert.equal(doc.idempotent, true);
    assert.equal(doc.timeout, 30);
    assert.equal(doc.source, 'api');
    assert.deepEqual(doc.inputs, {
      type: 'object',
      required: ['x'],
      additionalProperties: false,
      properties: { x: { type: 'string' } },
    });
  }
  assert.deepEqual(body, created.body);

  // A plugin without the optional fields shows their defaults.
  const plain = await server.register('plain', 'ok.sh');
  assert.equal(plain.title, null);
  assert.equal(plain.category, null);
  assert.deepEqual(plain.tags, []);
  assert.equal(plain.dangerous, null);
  assert.equal(plain.expensive, false);
});

test('registering a name again replaces the entry (and its runs use the new executable)', async () => {
  const first = (await server.register('dup', 'ok.sh')) as PluginDoc;
  assert.equal(first.location, fixturePath('ok.sh'));
  const second = await server.request<PluginDoc>('POST', '/plugin', {
    name: 'dup',
    location: fixturePath('echo-data.sh'),
  });
  assert.equal(second.status, 201, second.text);

  const { body } = await server.request<PluginDoc>('GET', '/plugin/dup');
  assert.equal(body.location, fixturePath('echo-data.sh'));
  assert.equal(body.description, 'Returns its data as payload.');
  assert.equal(body.registered_at, first.registered_at);
  assert.ok(Date.parse(body.updated_at) >= Date.parse(first.updated_at));
  const list = await server.request<PluginDoc[]>('GET', '/plugin');
  assert.equal(list.body.filter((plugin) => plugin.name === 'dup').length, 1);

  const run = await server.request<Envelope>('POST', '/plugin/dup/run', { data: { from: 'echo-data' } });
  assert.equal(run.status, 200, run.text);
  assert.deepEqual(run.body.payload, { from: 'echo-data' });
});

test('a bad plugin is refused with 4xx and {error, code}; the entry it would replace stays intact', async () => {
  await server.register('victim', 'ok.sh');
  const before = await server.request<PluginDoc>('GET', '/plugin/victim');
  assert.equal(before.status, 200);
  const notExecutable = fixturePath('not-executable.sh');
  assert.throws(() => fs.accessSync(notExecutable, fs.constants.X_OK), 'the fixture really is mode 644');

  const cases: { location: string; status: number; code: string; message: RegExp }[] = [
    {
      location: fixturePath('bad-schema.sh'),
      status: 400,
      code: 'TH_PLUGIN_DESCRIBE_FAILED',
      message: /invalid JSON/,
    },
    {
      location: fixturePath('uncompilable-inputs.sh'),
      status: 400,
      code: 'TH_PLUGIN_DESCRIBE_FAILED',
      message: /"inputs" is not a valid JSON Schema/,
    },
    {
      location: fixturePath('missing-inputs-schema.sh'),
      status: 400,
      code: 'TH_PLUGIN_DESCRIBE_FAILED',
      message: /inputs/,
    },
    {
      location: fixturePath('failing-schema.sh'),
      status: 400,
      code: 'TH_PLUGIN_DESCRIBE_FAILED',
      message: /code 5/,
    },
    {
      location: fixturePath('array-schema.sh'),
      status: 400,
      code: 'TH_PLUGIN_DESCRIBE_FAILED',
      message: /not an object/,
    },
    {
      location: fixturePath('no-such-plugin.sh'),
      status: 400,
      code: 'TH_PLUGIN_NOT_EXECUTABLE',
      message: /no such file/,
    },
    { location: notExecutable, status: 400, code: 'TH_PLUGIN_NOT_EXECUTABLE', message: /not executable/ },
    {
      location: path.dirname(notExecutable),
      status: 400,
      code: 'TH_PLUGIN_NOT_EXECUTABLE',
      message: /not a regular file/,
    },
  ];
  for (const bad of cases) {
    const response = await server.request('POST', '/plugin', { name: 'victim', location: bad.location });
    assert.equal(response.status, bad.status, `${bad.location}: ${response.text}`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assertErrorBody(response.body, bad.code, bad.message);
    const now = await server.request<PluginDoc>('GET', '/plugin/victim');
    assert.deepEqual(now.body, before.body, `after ${bad.location}, the entry is unchanged`);
  }

  // A builtin action's name is taken, even by a good plugin.
  const builtin = await server.request('POST', '/plugin', { name: 'echo', location: fixturePath('ok.sh') });
  assert.equal(builtin.status, 409, builtin.text);
  assertErrorBody(builtin.body, 'TH_PLUGIN_NAME_TAKEN', /builtin/);
  assert.equal((await server.request('GET', '/plugin/echo')).status, 404);

  const badName = await server.request('POST', '/plugin', {
    name: 'no spaces!',
    location: fixturePath('ok.sh'),
  });
  assert.equal(badName.status, 400, badName.text);
  assertErrorBody(badName.body, 'TH_REQUEST_INVALID', /invalid plugin name/);

  const missingField = await server.request('POST', '/plugin', { name: 'victim' });
  assert.equal(missingField.status, 400);
  assertErrorBody(missingField.body, 'TH_REQUEST_INVALID', 'body must have property "location"');
  assert.deepEqual((await server.request('GET', '/plugin/victim')).body, before.body);
});

test('DELETE /plugin/:name answers 204, then the plugin is gone: GET, DELETE and run answer 404', async () => {
  await server.register('doomed', 'ok.sh');
  const deleted = await server.request('DELETE', '/plugin/doomed');
  assert.equal(deleted.status, 204);
  assert.equal(deleted.text, '');

  const get = await server.request('GET', '/plugin/doomed');
  assert.equal(get.status, 404);
  assertErrorBody(get.body, 'TH_PLUGIN_NOT_FOUND', /doomed/);
  const again = await server.request('DELETE', '/plugin/doomed');
  assert.equal(again.status, 404);
  assertErrorBody(again.body, 'TH_PLUGIN_NOT_FOUND', /doomed/);
  const run = await server.request('POST', '/plugin/doomed/run', { data: {} });
  assert.equal(run.status, 404);
  assertErrorBody(run.body, 'TH_PLUGIN_NOT_FOUND', /doomed/);
  const list = await server.request<PluginDoc[]>('GET', '/plugin');
  assert.ok(!list.body.some((plugin) => plugin.name === 'doomed'));
});

test('GET /plugin lists the registry as json, yaml, csv and xml, the same entries in each', async () => {
  await server.register('rich', 'rich-metadata.sh');
  await server.register('plain', 'ok.sh');

  const json = await server.request<PluginDoc[]>('GET', '/plugin?format=json');
  assert.equal(json.status, 200);
  assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(Array.isArray(json.body));
  const names = json.body.map((plugin) => plugin.name);
  assert.ok(names.includes('rich') && names.includes('plain'), names.join(','));
  assert.deepEqual(
    names,
    [...names].sort((a, b) => a.localeCompare(b)),
  );
  assert.deepEqual((await server.request('GET', '/plugin')).body, json.body, 'json is the default');

  const yaml = await server.request('GET', '/plugin?format=yaml');
  assert.equal(yaml.status, 200);
  assert.match(yaml.headers.get('content-type') ?? '', /yaml/);
  assert.deepEqual(parseYaml(yaml.text), json.body);

  const csv = await server.request('GET', '/plugin?format=csv');
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  const [header, ...rows] = parseCsv(csv.text);
  assert.ok(header);
  assert.equal(rows.length, json.body.length);
  const column = (name: string): number => {
    const index = header.indexOf(name);
    assert.ok(index >= 0, `csv has a ${name} column: ${header.join(',')}`);
    return index;
  };
  for (const [index, row] of rows.entries()) {
    const doc = json.body[index] as PluginDoc;
    assert.equal(row.length, header.length, `row ${index} has every column`);
    assert.equal(row[column('name')], doc.name);
    assert.equal(row[column('location')], doc.location);
    assert.equal(row[column('description')], doc.description);
    assert.equal(row[column('expensive')], String(doc.expensive));
  }
  const rich = rows.find((row) => row[column('name')] === 'rich');
  assert.ok(rich);
  assert.equal(rich[column('tags')], 'alpha;beta');
  assert.equal(rich[column('dangerous')], 'deletes nothing, but says it might, really');
  assert.deepEqual(
    JSON.parse(rich[column('inputs')] as string),
    json.body.find((p) => p.name === 'rich')?.inputs,
  );

  const xml = await server.request('GET', '/plugin?format=xml');
  assert.equal(xml.status, 200);
  assert.match(xml.headers.get('content-type') ?? '', /^application\/xml/);
  const parsed = new XMLParser({ isArray: (name) => name === 'plugin' }).parse(xml.text) as {
    plugins: { plugin: { name: string; location: string }[] };
  };
  assert.deepEqual(
    parsed.plugins.plugin.map((plugin) => [plugin.name, plugin.location]),
    json.body.map((doc) => [doc.name, doc.location]),
  );

  const bad = await server.request('GET', '/plugin?format=html');
  assert.equal(bad.status, 400);
  assertErrorBody(bad.body, 'TH_REQUEST_INVALID', /format/);
});

test('POST /plugin/:name/run (sync) answers the envelope of a successful run, stored as a run', async () => {
  await server.register('greeter', 'ok.sh');
  const { status, body } = await server.request<Envelope>('POST', '/plugin/greeter/run', {
    data: { name: 'ada' },
  });
  assert.equal(status, 200);
  assert.equal(body.status, 1);
  assert.equal(body.reason, 'ok');
  assert.equal(body.state, 'DONE');
  assert.equal(body.error, null);
  assert.match(body.run_id, UUID);
  const payload = body.payload as { greeting: string; meta: Record<string, unknown> };
  assert.equal(payload.greeting, 'hello ada');
  assert.equal(payload.meta.taskName, 'greeter');
  assert.equal(payload.meta.protocol, 'v1');
  assert.deepEqual(body.metadata, { fixture: 'ok' });

  const run = await server.request<RunDocument>('GET', `/run/${body.run_id}`);
  assert.equal(run.status, 200);
  assert.equal(run.body.id, body.run_id);
  assert.equal(run.body.plugin, 'greeter');
  assert.equal(run.body.state, 'DONE');
  assert.deepEqual(run.body.data, { name: 'ada' });
  assert.equal(run.body.result?.status, 1);
  assert.equal(run.body.exit_code, 0);
  assert.ok(run.body.finished !== null && run.body.started !== null);
  // RUNNING, the log line, the result line (a stdout line too), the final state.
  assert.ok(run.body.last_seq >= 4, `last_seq ${run.body.last_seq}`);

  const custom = await server.register('custom', 'custom-state.sh');
  assert.equal(custom.name, 'custom');
  const customRun = await server.request<Envelope>('POST', '/plugin/custom/run', { data: {} });
  assert.equal(customRun.body.status, 1);
  assert.equal(customRun.body.state, 'ALREADY_DONE');
  assert.deepEqual(customRun.body.payload, { changed: false });
});

test('POST /plugin/:name/run (sync) answers a failed run as a failure envelope: status 0, SERVER_ERROR', async () => {
  await server.register('status-zero', 'status-zero.sh');
  await server.register('crash', 'crash.sh');
  await server.register('exit-after-result', 'exit-after-result.sh');

  const zero = await server.request<Envelope>('POST', '/plugin/status-zero/run', { data: {} });
  assert.equal(zero.status, 200, zero.text);
  assert.equal(zero.body.status, 0);
  assert.equal(zero.body.reason, 'upstream answered 503');
  assert.equal(zero.body.state, 'SERVER_ERROR');
  assert.equal(zero.body.error, 'upstream answered 503');
  assert.match(zero.body.run_id, UUID);

  const crash = await server.request<Envelope>('POST', '/plugin/crash/run', { data: {} });
  assert.equal(crash.status, 200, crash.text);
  assert.equal(crash.body.status, 0);
  assert.equal(crash.body.state, 'SERVER_ERROR');
  assert.match(crash.body.error ?? '', /\b2\b/, 'names the exit code');
  assert.match(crash.body.error ?? '', /crash-stderr-15/, 'names the last stderr line');
  assert.equal((await server.request<RunDocument>('GET', `/run/${crash.body.run_id}`)).body.exit_code, 2);

  // A status-1 line followed by a non-zero exit is a failure, and the envelope says so.
  const exit = await server.request<Envelope>('POST', '/plugin/exit-after-result/run', { data: {} });
  assert.equal(exit.body.status, 0);
  assert.equal(exit.body.state, 'SERVER_ERROR');
  assert.match(exit.body.error ?? '', /\b3\b/);
  assert.deepEqual(exit.body.payload, { done: true });
});

test('invalid data is refused with 400 naming the field, and no run is created', async () => {
  await server.register('rich', 'rich-metadata.sh');
  const total = await runCount();
  const forRich = await runCount('?plugin=rich');

  const wrongType = await server.request('POST', '/plugin/rich/run', { data: { x: 5 } });
  assert.equal(wrongType.status, 400, wrongType.text);
  assertErrorBody(wrongType.body, 'TH_PLUGIN_DATA_INVALID', 'body/data/x must be string');

  const missing = await server.request('POST', '/plugin/rich/run', { data: {} });
  assert.equal(missing.status, 400, missing.text);
  assertErrorBody(missing.body, 'TH_PLUGIN_DATA_INVALID', 'body/data must have property "x"');

  const async = await server.request('POST', '/plugin/rich/run?async=true', { data: { x: 'ok', y: 1 } });
  assert.equal(async.status, 400, async.text);
  assertErrorBody(async.body, 'TH_PLUGIN_DATA_INVALID', /body\/data.*\by\b/);

  const noData = await server.request('POST', '/plugin/rich/run', {});
  assert.equal(noData.status, 400);
  assertErrorBody(noData.body, 'TH_REQUEST_INVALID', 'body must have property "data"');

  const batch = await server.request('POST', '/plugin/rich/batch', {
    items: [{ x: 'fine' }, { x: false }],
    max_concurrent: 2,
  });
  assert.equal(batch.status, 400, batch.text);
  assertErrorBody(batch.body, 'TH_PLUGIN_DATA_INVALID', 'body/items/1/x must be string');

  assert.equal(await runCount('?plugin=rich'), forRich, 'no run of rich was created');
  assert.equal(await runCount(), total, 'no run at all was created');

  // The same plugin with valid data does run: the refusals above were about the data.
  const good = await server.request<Envelope>('POST', '/plugin/rich/run', { data: { x: 'fine' } });
  assert.equal(good.status, 200, good.text);
  assert.deepEqual(good.body.payload, { x: 'fine' });
  assert.equal(await runCount('?plugin=rich'), forRich + 1);
});

test('an unknown plugin answers 404 on GET, run, async run and batch', async () => {
  for (const [method, url, body] of [
    ['GET', '/plugin/ghost', undefined],
    ['POST', '/plugin/ghost/run', { data: {} }],
    ['POST', '/plugin/ghost/run?async=true', { data: {} }],
    ['POST', '/plugin/ghost/batch', { items: [{}] }],
  ] as const) {
    const response = await server.request(method, url, body);
    assert.equal(response.status, 404, `${method} ${url}: ${response.text}`);
    assertErrorBody(response.body, 'TH_PLUGIN_NOT_FOUND', /ghost/);
  }
});

/** The most plugin lifetimes (start ns, end ns) that overlapped at any instant. */
function maxOverlap(spans: readonly (readonly [bigint, bigint])[]): number {
  let most = 0;
  for (const [start] of spans) {
    const live = spans.filter(([s, e]) => s <= start && start < e).length;
    most = Math.max(most, live);
  }
  return most;
}

function readSpans(dir: string, ids: readonly string[]): (readonly [bigint, bigint])[] {
  return ids.map((id) => {
    const [start, end] = fs.readFileSync(path.join(dir, id), 'utf8').trim().split(' ');
    return [BigInt(start as string), BigInt(end as string)] as const;
  });
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}

/** The ids of slot.sh runs in `dir` that started and have not ended, in the order they started. */
function runningSlots(dir: string): string[] {
  const files = new Set(fs.readdirSync(dir));
  return [...files]
    .filter((name) => name.endsWith('.started'))
    .map((name) => name.slice(0, -'.started'.length))
    .filter((id) => !files.has(id))
    .map((id) => ({ id, start: fs.readFileSync(path.join(dir, `${id}.started`), 'utf8').trim() }))
    .filter(({ start }) => start !== '') // created, not yet written
    .map(({ id, start }) => ({ id, start: BigInt(start) }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
    .map(({ id }) => id);
}

test('POST /plugin/:name/batch runs every item, never more than max_concurrent at once', async (t) => {
  await server.register('slot', 'slot.sh');
  const dir = tempDir(t);
  const gates = tempDir(t);
  const gate = (id: string): string => path.join(gates, id);
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  // Should the test fail midway, no run is left waiting for its gate.
  t.after(() => killAll(pluginProcesses(process.pid, fixturePath('slot.sh'))));
  const answer = server.request<{
    batch_id: string;
    max_concurrent: number;
    results: Envelope[];
  }>('POST', '/plugin/slot/batch', {
    // Every run waits for a gate of its own, so the test decides when each one ends.
    items: ids.map((id) => ({ dir, id, gate: gate(id) })),
    max_concurrent: 2,
  });
  // Whenever two runs wait (or all that are left), let the one that started last go: while two
  // are held, a third can only start if the limit fails. The first to start is held to the
  // very end, so they end out of item order.
  for (let left = ids.length; left > 0; left -= 1) {
    const running = await waitInDir(dir, () => {
      const now = runningSlots(dir);
      return now.length >= Math.min(2, left) ? now : undefined;
    });
    const live = pluginProcesses(process.pid, fixturePath('slot.sh'));
    assert.ok(live.length <= 2, `${live.length} plugins at once: ${running.join(', ')} started`);
    const id = running.at(-1) as string;
    fs.writeFileSync(gate(id), '');
    await waitForFile(path.join(dir, id));
  }
  const { status, body, text } = await answer;
  assert.equal(status, 200, text);
  assert.match(body.batch_id, UUID);
  assert.equal(body.max_concurrent, 2);
  assert.equal(body.results.length, ids.length);
  body.results.forEach((result, index) => {
    assert.equal(result.status, 1);
    assert.equal(result.state, 'DONE');
    assert.deepEqual(result.payload, { id: ids[index] }, 'results in item order');
  });
  const spans = readSpans(dir, ids);
  const ends = ids.map((id, index) => ({ id, end: (spans[index] as readonly [bigint, bigint])[1] }));
  assert.notDeepEqual(
    [...ends].sort((x, y) => (x.end < y.end ? -1 : 1)).map(({ id }) => id),
    ids,
    'the runs ended out of item order',
  );
  // Two at once, never three: the limit holds, and it is a limit (not one at a time).
  assert.equal(maxOverlap(spans), 2);

  const runs = await server.request<RunDocument[]>('GET', `/run?batch=${body.batch_id}`);
  assert.equal(runs.body.length, ids.length);
  assert.deepEqual(
    new Set(runs.body.map((run) => run.id)),
    new Set(body.results.map((result) => result.run_id)),
  );
  assert.ok(runs.body.every((run) => run.state === 'DONE' && run.batch_id === body.batch_id));

  // 0 means the CPU count.
  const cpu = await server.request<{ max_concurrent: number; results: Envelope[] }>(
    'POST',
    '/plugin/slot/batch',
    {
      items: [{ dir, id: 'g' }],
      max_concurrent: 0,
    },
  );
  assert.equal(cpu.status, 200, cpu.text);
  assert.equal(cpu.body.max_concurrent, os.availableParallelism());
  assert.equal(cpu.body.results[0]?.status, 1);

  const tooLow = await server.request('POST', '/plugin/slot/batch', {
    items: [{ dir, id: 'h' }],
    max_concurrent: -2,
  });
  assert.equal(tooLow.status, 400);
  assertErrorBody(tooLow.body, 'TH_REQUEST_INVALID', /max_concurrent/);
});

test('POST /plugin/:name/batch?async=true answers 202 with run ids while the runs wait; they all run at once and finish', async (t) => {
  await server.register('slot', 'slot.sh');
  const dir = tempDir(t);
  // Every run waits for this gate, which opens only after the answer.
  const gate = path.join(tempDir(t), 'gate');
  const ids = ['p', 'q', 'r', 's'];
  t.after(() => killAll(pluginProcesses(process.pid, fixturePath('slot.sh'))));
  const { status, body, text } = await server.request<{
    batch_id: string;
    max_concurrent: number;
    runs: { run_id: string; stream: string }[];
  }>('POST', '/plugin/slot/batch?async=true', {
    items: ids.map((id) => ({ dir, id, gate })),
    max_concurrent: -1,
  });
  assert.equal(status, 202, text);
  assert.match(body.batch_id, UUID);
  assert.equal(body.max_concurrent, 128);
  assert.equal(body.runs.length, ids.length);
  assert.equal(new Set(body.runs.map((run) => run.run_id)).size, ids.length);
  for (const run of body.runs) {
    assert.match(run.run_id, UUID);
    assert.equal(run.stream, `/run/${run.run_id}/stream`);
    // It cannot have finished: it waits for a gate that does not exist yet.
    const { body: now } = await server.request<RunDocument>('GET', `/run/${run.run_id}`);
    assert.ok(['TODO', 'RUNNING'].includes(now.state), now.state);
  }
  // -1 = 128 at once: all four start while the gate is shut.
  await waitInDir(dir, () => (runningSlots(dir).length === ids.length ? true : undefined));
  assert.equal(pluginProcesses(process.pid, fixturePath('slot.sh')).length, ids.length);
  fs.writeFileSync(gate, '');
  const finished = await Promise.all(body.runs.map((run) => waitForRun(server, run.run_id)));
  finished.forEach((run, index) => {
    assert.equal(run.state, 'DONE', run.error ?? '');
    assert.equal(run.batch_id, body.batch_id);
    assert.deepEqual(run.result?.payload, { id: ids[index] });
  });
  assert.equal(maxOverlap(readSpans(dir, ids)), ids.length);
});

test('POST /plugin/:name/run?async=true answers 202 {run_id, stream} at once; the run then finishes', async (t) => {
  await server.register('waiter', 'wait-for-file.sh');
  const gate = path.join(tempDir(t), 'gate');
  const { status, body, text } = await server.request<{ run_id: string; stream: string }>(
    'POST',
    '/plugin/waiter/run?async=true',
    { data: { path: gate } },
  );
  assert.equal(status, 202, text);
  assert.deepEqual(Object.keys(body).sort(), ['run_id', 'stream']);
  assert.match(body.run_id, UUID);
  assert.equal(body.stream, `/run/${body.run_id}/stream`);
  // It cannot have finished: it waits for a file that does not exist yet.
  const running = await server.request<RunDocument>('GET', `/run/${body.run_id}`);
  assert.ok(['TODO', 'RUNNING'].includes(running.body.state), running.body.state);
  fs.writeFileSync(gate, '');
  const run = await waitForRun(server, body.run_id);
  assert.equal(run.state, 'DONE', run.error ?? '');
  assert.deepEqual(run.result?.payload, { saw: 'the file' });
});

test('GET /unsecured/mon/ping answers pong', async () => {
  const { status, body } = await server.request('GET', '/unsecured/mon/ping');
  assert.equal(status, 200);
  assert.deepEqual(body, { status: 'pong' });
});

test('GET /unsecured/spec.json is an OpenAPI 3 document listing the plugin and run paths', async () => {
  const { status, body } = await server.request<{
    openapi: string;
    info: { title: string };
    paths: Record<string, Record<string, unknown>>;
  }>('GET', '/unsecured/spec.json');
  assert.equal(status, 200);
  assert.match(body.openapi, /^3\.\d+\.\d+$/);
  assert.equal(body.info.title, 'taskhost');
  const expected: [string, string][] = [
    ['/plugin', 'get'],
    ['/plugin', 'post'],
    ['/plugin/{name}', 'get'],
    ['/plugin/{name}', 'delete'],
    ['/plugin/{name}/run', 'post'],
    ['/plugin/{name}/batch', 'post'],
    ['/run', 'get'],
    ['/run/{id}', 'get'],
    // Not '/run/{id}/stream': @fastify/websocket hides WebSocket routes from the document.
    ['/unsecured/mon/ping', 'get'],
  ];
  for (const [route, method] of expected) {
    assert.ok(
      body.paths[route]?.[method],
      `${method.toUpperCase()} ${route} in ${Object.keys(body.paths).join(', ')}`,
    );
  }
});

test('an unknown route answers 404 JSON', async () => {
  for (const [method, url] of [
    ['GET', '/nope'],
    ['POST', '/plugin/x/y/z'],
    ['PUT', '/plugin'],
  ] as const) {
    const response = await server.request(method, url, method === 'GET' ? undefined : {});
    assert.equal(response.status, 404, `${method} ${url}`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assertErrorBody(response.body, 'TH_REQUEST_INVALID', `no route ${method} ${url}`);
  }
});

test('a malformed JSON body answers 400 JSON, never a stack trace', async () => {
  await server.register('greeter', 'ok.sh');
  for (const [url, text] of [
    ['/plugin', '{"name": "x", "location": '],
    ['/plugin/greeter/run', '{data: 1}'],
    ['/plugin/greeter/batch', '[1, 2'],
  ] as const) {
    const response = await server.request('POST', url, text);
    assert.equal(response.status, 400, `${url}: ${response.text}`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assertErrorBody(response.body, 'TH_REQUEST_INVALID', /JSON|Unexpected|Expected/);
    assert.doesNotMatch(response.text, /node_modules|\.ts:\d+|\bat [A-Za-z.]+ \(/);
  }
  // The server is still up and well.
  assert.equal((await server.request('GET', '/unsecured/mon/ping')).status, 200);
});
