import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Command, Option } from 'commander';
import { parseDuration, settingsOf, type Settings } from '../../../src/cli/config.ts';
import { tempDir } from '../../helpers/plugin-fixtures.ts';

/**
 * src/cli/config.ts on a small commander program shaped like taskhost's: which values reach
 * the command's options (and from where), and the settings without a flag, parsed.
 */

interface Parsed {
  settings: Settings;
  options: Record<string, unknown>;
  sources: Record<string, string | undefined>;
}

async function parse(
  t: TestContext,
  yaml: string,
  argv: string[] = [],
  env: Record<string, string> = {},
): Promise<Parsed> {
  const file = path.join(tempDir(t), 'taskhost.yaml');
  fs.writeFileSync(file, yaml);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  t.after(() => {
    for (const key of Object.keys(env)) delete process.env[key];
    Object.assign(process.env, saved);
  });
  let parsed: Parsed | undefined;
  const command = new Command('serve')
    .exitOverride()
    .addOption(new Option('--config <file>').env('TASKHOST_CONFIG'))
    .addOption(new Option('--port <port>').env('TASKHOST_PORT').default('8081'))
    .addOption(new Option('--data-dir <dir>').env('TASKHOST_DATA_DIR').default('.taskhost'))
    .addOption(new Option('--database-url <url>').env('DATABASE_URL'))
    .hook('preAction', async (_command, action) => {
      const settings = await settingsOf(action);
      parsed = {
        settings,
        options: { ...action.opts() },
        sources: Object.fromEntries(
          ['port', 'dataDir', 'databaseUrl'].map((key) => [key, action.getOptionValueSource(key)]),
        ),
      };
    })
    .action(() => {});
  await command.parseAsync(['--config', file, ...argv], { from: 'user' });
  assert.ok(parsed);
  return parsed;
}

/** What the settings test's file says (completed_task_expiration 1h30m, heartbeat_interval 2s, instance_death_timeout 1m), parsed. */
const PARSED_PERIODS = {
  completedTaskExpirationMs: 90 * 60_000,
  heartbeatIntervalMs: 2000,
  instanceDeathTimeoutMs: 60_000,
};

test('file values fill the options no flag or variable set, as strings, with the source "config"', async (t) => {
  const { options, sources, settings } = await parse(t, 'port: 9001\ndatabase_url: postgres://db/x\n');
  assert.equal(options.port, '9001');
  assert.equal(options.dataDir, '.taskhost');
  assert.equal(options.databaseUrl, 'postgres://db/x');
  assert.deepEqual(sources, { port: 'config', dataDir: 'default', databaseUrl: 'config' });
  assert.match(settings.file ?? '', /taskhost\.yaml$/);

  const overridden = await parse(t, 'port: 9001\ndata_dir: state\n', ['--port', '9003'], {
    TASKHOST_DATA_DIR: 'from-env',
  });
  assert.equal(overridden.options.port, '9003');
  assert.equal(overridden.options.dataDir, 'from-env');
  assert.deepEqual(overridden.sources, { port: 'cli', dataDir: 'env', databaseUrl: undefined });
});

test('the settings without a flag: defaults, parsed values, and their variables', async (t) => {
  const defaults = (await parse(t, '# nothing\n')).settings;
  assert.deepEqual(defaults, {
    file: defaults.file,
    admins: [],
    auth: {
      usersFile: '.taskhost/users',
      trustedHeader: null,
      trustedGroupsHeader: null,
      trustedProxies: ['127.0.0.1/32', '::1/128'],
    },
    allowedHosts: [],
    encryption: { keysFile: '.taskhost/keys.json' },
    config: {},
    configValues: {},
    secrets: [],
    resourceLimits: {},
    maxConcurrentExecutions: 100,
    completedTaskExpirationMs: 720 * 3_600_000,
    heartbeatIntervalMs: 10_000,
    instanceDeathTimeoutMs: 30_000,
    maintenanceMode: false,
  });

  const { settings } = await parse(
    t,
    `admins: [carol]
config:
  api: {value: {url: "https://pay.example/api"}}
  token: {value: s3cr3t, secret: true}
resource_limits: {openssl: 4}
max_concurrent_executions: -1
completed_task_expiration: 1h30m
heartbeat_interval: 2s
instance_death_timeout: 1m
maintenance_mode: false
encryption: {keys_file: keys.json}
`,
    [],
    {
      TASKHOST_ADMINS: 'alice, bob',
      TASKHOST_KEYS_FILE: '/etc/taskhost/keys.json',
      TASKHOST_MAINTENANCE_MODE: 'yes',
    },
  );
  assert.deepEqual(settings.admins, ['alice', 'bob']);
  assert.equal(settings.encryption.keysFile, '/etc/taskhost/keys.json');
  assert.deepEqual(settings.config, {
    api: { value: { url: 'https://pay.example/api' }, secret: false },
    token: { value: 's3cr3t', secret: true },
  });
  assert.deepEqual(settings.configValues, { api: { url: 'https://pay.example/api' }, token: 's3cr3t' });
  assert.deepEqual(settings.secrets, ['s3cr3t'], 'the texts to conceal: the secret items only');
  assert.deepEqual(settings.resourceLimits, { openssl: 4 });
  assert.equal(settings.maxConcurrentExecutions, Number.POSITIVE_INFINITY);
  const periods = {
    completedTaskExpirationMs: settings.completedTaskExpirationMs,
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    instanceDeathTimeoutMs: settings.instanceDeathTimeoutMs,
  };
  assert.deepEqual(periods, PARSED_PERIODS, "the file's periods, in milliseconds");
  // The variable wins over the file.
  assert.equal(settings.maintenanceMode, true);
});

test('parseDuration reads Go durations', () => {
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('720h'), 2_592_000_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2m3s'), 123_000);
});
