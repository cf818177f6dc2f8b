import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  assertExit,
  assertOneLineError,
  cliEnv,
  stdoutJson,
  taskhost,
  type CliResult,
  type ListedPlugin,
} from '../../helpers/cli.ts';
import { PLUGIN_FIXTURES_DIR, fixturePath, tempDir } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * SPEC section 4, the plugin registry through the real `bin/taskhost`: register (the
 * reference CLI's single-dash flags and the long forms), list, unregister, and every way a
 * registration is refused (exit 2, one line, the previous entry intact). The processes use
 * an external database (DATABASE_URL), so no embedded cluster is involved.
 */

const database = await createTestDatabase();
const env = cliEnv({ DATABASE_URL: database.url });

function cli(args: readonly string[], cwd?: string): Promise<CliResult> {
  return taskhost(args, { env, ...(cwd === undefined ? {} : { cwd }), timeoutMs: 30_000 });
}

async function listJson(): Promise<ListedPlugin[]> {
  const result = await cli(['list', '--json']);
  assertExit(result, 0);
  const rows = stdoutJson<ListedPlugin[]>(result);
  assert.ok(Array.isArray(rows), 'list --json prints an array');
  return rows;
}

async function entry(name: string): Promise<ListedPlugin | undefined> {
  return (await listJson()).find((row) => row.name === name);
}

/** A plugin whose self-description says `description`; rewritten in place to change it. */
function writeDescribedPlugin(file: string, description: string): void {
  fs.writeFileSync(
    file,
    `#!/usr/bin/env bash
if [[ "\${1:-}" == schema ]]; then
  echo '{"name": "changing", "description": "${description}", "inputs": {"type": "object"}}'
  exit 0
fi
cat >/dev/null
echo '{"status": 1, "reason": "ok", "payload": "${description}"}'
`,
    { mode: 0o755 },
  );
}

test('register takes the reference single-dash flags and the long forms; list shows them', async () => {
  const [single, long, equals] = await Promise.all([
    cli(['register', '-name', 'reg-single', '-location', fixturePath('ok.sh')]),
    cli(['register', '--name', 'reg-long', '--location', fixturePath('echo-data.sh')]),
    cli(['register', '--name=reg-equals', `--location=${fixturePath('reference-python.py')}`]),
  ]);
  for (const result of [single, long, equals]) assertExit(result, 0);
  assert.match(single.stdout, /registered reg-single \(/);

  const rows = await listJson();
  const byName = new Map(rows.map((row) => [row.name, row]));
  const expected = [
    ['reg-single', 'ok.sh', 'ok', 'Greets whoever data.name names.'],
    ['reg-long', 'echo-data.sh', 'echo-data', 'Returns its data as payload.'],
    [
      'reg-equals',
      'reference-python.py',
      'reference-python',
      'Python example of the task executor protocol v1',
    ],
  ] as const;
  for (const [name, file, described, text] of expected) {
    const row = byName.get(name);
    assert.ok(row, `${name} is listed: ${JSON.stringify(rows)}`);
    assert.equal(row.location, fixturePath(file));
    assert.equal(row.source, 'cli');
    assert.equal(row.description.name, described);
    assert.equal(row.description.description, text);
    assert.ok(row.description.inputs && typeof row.description.inputs === 'object', 'inputs kept');
    assert.ok(!Number.isNaN(Date.parse(row.registered_at)), 'registered_at is a date');
  }
  const names = rows.map((row) => row.name);
  assert.deepEqual(names, [...names].sort(), 'list --json is sorted by name');

  const singleJson = await cli(['list', '-json']);
  assertExit(singleJson, 0);
  assert.deepEqual(
    stdoutJson<ListedPlugin[]>(singleJson).map((row) => row.name),
    names,
    '-json is --json',
  );

  const table = await cli(['list']);
  assertExit(table, 0);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^NAME\s+SOURCE\s+TITLE\s+LOCATION$/);
  const row = lines.find((line) => line.startsWith('reg-single '));
  assert.ok(row, `table row for reg-single:\n${table.stdout}`);
  assert.match(row, /\bcli\b/);
  assert.ok(row.includes(fixturePath('ok.sh')), row);
  assert.ok(row.includes('Greets whoever data.name names.'), row);
});

test('a relative -location is stored as an absolute path', async (t) => {
  const fixturesParent = path.dirname(PLUGIN_FIXTURES_DIR.replace(/\/$/, ''));
  const relative = await cli(['register', '-name', 'rel-ok', '-location', 'plugins/ok.sh'], fixturesParent);
  assertExit(relative, 0);
  const dotted = await cli(
    ['register', '-name', 'rel-space', '-location', './with space/ok plugin.sh'],
    PLUGIN_FIXTURES_DIR,
  );
  assertExit(dotted, 0);

  const rows = await listJson();
  const ok = rows.find((row) => row.name === 'rel-ok');
  const space = rows.find((row) => row.name === 'rel-space');
  assert.equal(ok?.location, fixturePath('ok.sh'));
  assert.equal(space?.location, path.join(PLUGIN_FIXTURES_DIR, 'with space', 'ok plugin.sh'));
  for (const row of [ok, space]) assert.ok(path.isAbsolute(row?.location ?? ''), JSON.stringify(row));

  // Run from elsewhere: the stored absolute path still finds it.
  const run = await cli(['execute', '-name', 'rel-ok', '-taskArgs', '{"name": "rel"}'], tempDir(t));
  assertExit(run, 0);
});

test('registering a taken name with a good plugin replaces the entry and re-reads the description', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'changing.sh');
  writeDescribedPlugin(file, 'first words');
  assertExit(await cli(['register', '-name', 'rereg', '-location', file]), 0);
  const first = await entry('rereg');
  assert.equal(first?.description.description, 'first words');

  writeDescribedPlugin(file, 'second words');
  const again = await cli(['register', '-name', 'rereg', '-location', file]);
  assertExit(again, 0);
  const second = await entry('rereg');
  assert.equal(second?.description.description, 'second words', 'the description is read again');
  assert.equal(second?.location, file);
  assert.ok(
    Date.parse(second?.updated_at ?? '') > Date.parse(first?.updated_at ?? ''),
    `updated_at moves on: ${first?.updated_at} -> ${second?.updated_at}`,
  );

  // Another executable under the same name replaces the location too.
  assertExit(await cli(['register', '--name', 'rereg', '--location', fixturePath('echo-data.sh')]), 0);
  const third = await entry('rereg');
  assert.equal(third?.location, fixturePath('echo-data.sh'));
  assert.equal(third?.description.name, 'echo-data');
  assert.equal((await listJson()).filter((row) => row.name === 'rereg').length, 1, 'one entry per name');
});

test('a refused registration exits 2 with one line and leaves the previous entry intact', async () => {
  // Each case has a good entry under its name, which the refused registration must not touch.
  const cases: { name: string; location: string; says: RegExp }[] = [
    {
      name: 'keep-missing',
      location: fixturePath('does-not-exist.sh'),
      says: /does-not-exist\.sh: no such file/,
    },
    { name: 'keep-noexec', location: fixturePath('not-executable.sh'), says: /not executable/ },
    { name: 'keep-dir', location: PLUGIN_FIXTURES_DIR, says: /not a regular file/ },
    {
      name: 'keep-badjson',
      location: fixturePath('bad-schema.sh'),
      says: /bad-schema\.sh schema: .*invalid JSON/,
    },
    { name: 'keep-noinputs', location: fixturePath('missing-inputs-schema.sh'), says: /inputs/ },
    {
      name: 'keep-exit5',
      location: fixturePath('failing-schema.sh'),
      says: /exited with code 5.*config file missing/,
    },
    {
      name: 'keep-hang',
      location: fixturePath('hanging-schema.sh'),
      // It sleeps 1000 s: only the 10 s limit on `schema` ends it (how soon after that limit
      // is measured by `npm run bench -- kill`).
      says: /hanging-schema\.sh schema: did not answer within 10 s/,
    },
  ];
  // Two good entries through the CLI; the others are copies of the first (fewer processes).
  await Promise.all([
    cli(['register', '-name', 'keep-missing', '-location', fixturePath('ok.sh')]).then((r) =>
      assertExit(r, 0),
    ),
    cli(['register', '-name', 'keep-hang', '-location', fixturePath('echo-data.sh')]).then((r) =>
      assertExit(r, 0),
    ),
  ]);
  await database.store.query(
    `INSERT INTO plugin (name, location, description, source)
     SELECT copy.name, location, description, source FROM plugin, unnest($1::text[]) AS copy(name)
      WHERE plugin.name = 'keep-missing'`,
    [cases.map((c) => c.name).filter((name) => name !== 'keep-missing' && name !== 'keep-hang')],
  );
  const before = new Map((await listJson()).map((row) => [row.name, row]));

  const results = await Promise.all(
    cases.map(async (c) => ({
      c,
      result: await cli(['register', '-name', c.name, '-location', c.location]),
    })),
  );
  for (const { c, result } of results) {
    const line = assertOneLineError(result, 2);
    assert.match(line, c.says, `${c.name}: ${line}`);
    assert.equal(result.stdout, '', `${c.name}: nothing on stdout`);
  }

  const afterRows = new Map((await listJson()).map((row) => [row.name, row]));
  for (const { name } of cases) {
    assert.ok(before.get(name), `${name} was registered before`);
    assert.deepEqual(afterRows.get(name), before.get(name), `${name} is intact`);
  }
  assert.equal(afterRows.get('keep-hang')?.location, fixturePath('echo-data.sh'));
  assert.equal(afterRows.get('keep-missing')?.location, fixturePath('ok.sh'));
});

test('a builtin name or an invalid name is refused with exit 2 and one line', async () => {
  const before = await listJson();
  const [builtin, ...invalid] = await Promise.all(
    ['echo', 'bad/name', '.hidden', 'x'.repeat(200)].map((name) =>
      cli(['register', '-name', name, '-location', fixturePath('ok.sh')]),
    ),
  );
  assert.match(assertOneLineError(builtin as CliResult, 2), /"echo" is the name of a builtin/);
  for (const result of invalid) assert.match(assertOneLineError(result, 2), /invalid plugin name/);
  const afterRows = await listJson();
  assert.deepEqual(
    afterRows.map((row) => row.name),
    before.map((row) => row.name),
    'nothing was added by a refused name',
  );
});

test('unregister removes an entry; unregistering or executing an unknown plugin exits 2', async () => {
  assertExit(await cli(['register', '-name', 'gone-soon', '-location', fixturePath('ok.sh')]), 0);
  assert.ok(await entry('gone-soon'));
  const removed = await cli(['unregister', '-name', 'gone-soon']);
  assertExit(removed, 0);
  assert.match(removed.stdout, /unregistered gone-soon/);
  assert.equal(await entry('gone-soon'), undefined);

  const again = await cli(['unregister', '--name', 'gone-soon']);
  assert.match(assertOneLineError(again, 2), /no plugin named "gone-soon"/);

  const execute = await cli(['execute', '-name', 'gone-soon', '-taskArgs', '{}']);
  assert.match(assertOneLineError(execute, 2), /no plugin named "gone-soon" is registered/);
  assert.equal(execute.stdout, '');
});
