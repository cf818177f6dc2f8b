import { Command, Option } from 'commander';
import { longFlagsOf, normaliseArgv } from './argv.ts';
import { failAndExit } from './exit.ts';
import { VERSION } from '../version.ts';

/**
 * `taskhost`: the command line. Only commander is loaded up front; each command imports
 * what it needs when it runs, so `taskhost --help` starts fast.
 */

/** An option that can also be set by TASKHOST_<FLAG>. */
function option(flags: string, description: string, env: string): Option {
  return new Option(flags, description).env(`TASKHOST_${env}`);
}

function storeOptions(command: Command): Command {
  return command
    .addOption(
      option('--config <file>', 'the settings file (default: ./taskhost.yaml, if it exists)', 'CONFIG'),
    )
    .addOption(
      option('--data-dir <dir>', 'where the embedded PostgreSQL lives', 'DATA_DIR').default('.taskhost'),
    )
    .addOption(
      new Option('--database-url <url>', 'an external PostgreSQL instead of the embedded one').env(
        'DATABASE_URL',
      ),
    );
}

type Action = (...args: never[]) => Promise<number | void>;

/** Runs a command body; its number is the exit code, a thrown error a one-line message. */
function run<A extends Action>(load: () => Promise<A>) {
  return async (...args: Parameters<A>): Promise<void> => {
    try {
      const action = await load();
      const code = await action(...args);
      process.exitCode = typeof code === 'number' ? code : 0;
    } catch (error) {
      failAndExit(error);
    }
  };
}

export function buildProgram(): Command {
  const program = new Command('taskhost')
    .description(
      'Run action plugins (any executable speaking the JSON protocol v1) and µTask-style workflows.',
    )
    .version(VERSION, '-v, --version')
    .configureOutput({
      // Usage errors read like every other error: one line, then exit code 2.
      outputError: (text, write) =>
        write(`taskhost: ${text.replace(/^error: /, '').trimEnd()} (see --help)\n`),
    })
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    })
    // A command that holds settings (it has --config) reads taskhost.yaml before it runs:
    // the file's values become its options' values where no flag or variable set them.
    .hook('preAction', async (_program, command) => {
      if (!command.options.some((option) => option.long === '--config')) return;
      try {
        await (await import('./config.ts')).settingsOf(command);
      } catch (error) {
        failAndExit(error);
      }
    });

  program
    .command('init')
    .description(
      'start a project: an example plugin in tasks/, templates/, a commented taskhost.yaml, a .gitignore',
    )
    .argument('[dir]', 'the project directory, created if missing', '.')
    .action(run(async () => (await import('./commands/init.ts')).init));

  storeOptions(
    program
      .command('register')
      .description('register an executable as a plugin: runs "PATH schema", checks it, stores it')
      .addOption(option('--name <name>', 'the name to register it under', 'NAME').makeOptionMandatory())
      .addOption(
        option(
          '--location <path>',
          'the executable (stored as an absolute path)',
          'LOCATION',
        ).makeOptionMandatory(),
      ),
  ).action(run(async () => (await import('./commands/plugins.ts')).register));

  storeOptions(
    program
      .command('unregister')
      .description('remove a plugin from the registry')
      .addOption(option('--name <name>', 'the plugin to remove', 'NAME').makeOptionMandatory()),
  ).action(run(async () => (await import('./commands/plugins.ts')).unregister));

  storeOptions(
    program
      .command('list')
      .description('list registered plugins')
      .addOption(option('--json', 'print JSON instead of a table', 'JSON')),
  ).action(run(async () => (await import('./commands/plugins.ts')).list));

  storeOptions(
    program
      .command('execute')
      .description('run a plugin once (or a batch of runs) and print its result envelope as JSON')
      .addOption(option('--name <name>', 'the plugin to run', 'NAME').makeOptionMandatory())
      .addOption(option('--args <json>', 'the data, a JSON object (also -taskArgs)', 'ARGS'))
      .addOption(option('--args-file <file>', 'read the data from a JSON file ("-" for stdin)', 'ARGS_FILE'))
      .addOption(option('--batch <file.jsonl>', 'run once per line of a JSON Lines file', 'BATCH'))
      .addOption(
        option('--concurrency <n>', 'batch runs at once: N, 0 = CPU count, -1 = 128', 'CONCURRENCY').default(
          '0',
        ),
      )
      .addOption(option('--timeout <seconds>', "override the plugin's timeout", 'TIMEOUT'))
      .addOption(option('--server <url>', 'run through a taskhost server instead of locally', 'SERVER'))
      .addOption(option('--async', 'with --server: start the run and follow its live stream', 'ASYNC'))
      .addOption(option('--quiet', 'do not print the plugin output lines on stderr', 'QUIET')),
  )
    .addHelpText(
      'after',
      `
Examples:
  taskhost execute -name check-url -taskArgs '{"url": "http://127.0.0.1:8081/unsecured/mon/ping"}'
  taskhost execute --name fraud-score --args-file payment.json
  taskhost execute --name check-url --batch urls.jsonl --concurrency 8
  taskhost execute --name check-url --args '{"url": "..."}' --server http://127.0.0.1:8081 --async

Exit code: 0 when the result has status 1, 1 otherwise, 2 for bad usage.`,
    )
    .action(run(async () => (await import('./commands/execute.ts')).execute));

  storeOptions(
    program
      .command('serve')
      .description('serve the API, the WebSocket streams and the UI')
      .addOption(option('--port <port>', 'port to listen on', 'PORT').default('8081'))
      .addOption(
        option('--host <host>', 'address to bind (loopback only until auth is configured)', 'HOST').default(
          '127.0.0.1',
        ),
      )
      .addOption(
        option('--tasks <dir>', 'executables registered as plugins at start', 'TASKS').default('tasks'),
      )
      .addOption(
        option('--templates <dir>', 'the templates tasks are created from', 'TEMPLATES').default('templates'),
      )
      .addOption(
        option('--functions <dir>', 'the functions templates may use', 'FUNCTIONS').default(
          'templates/functions',
        ),
      )
      .addOption(
        option('--scripts <dir>', 'where the script action finds its files', 'SCRIPTS').default('scripts'),
      )
      .addOption(
        option(
          '--output-cap <bytes>',
          'output a run keeps (head and tail); the rest is dropped',
          'OUTPUT_CAP',
        ).default(String(1024 * 1024)),
      )
      .addOption(
        option(
          '--shutdown-timeout <seconds>',
          'on SIGTERM, how long running steps may go on before they are cancelled and their tasks released',
          'SHUTDOWN_TIMEOUT',
        ).default('30'),
      )
      .addOption(
        option(
          '--base-path <path>',
          'the path prefix a reverse proxy serves taskhost under (/ops): links and calls of the dashboard stay under it',
          'BASE_PATH',
        ),
      ),
  ).action(run(async () => (await import('./commands/serve.ts')).serve));

  const pluginCommand = program
    .command('plugin')
    .description('write and check plugins: new (from a template), check (a protocol linter), helper');
  pluginCommand
    .command('new')
    .description('write a new plugin that passes `plugin check`, its sample data, and the helper it uses')
    .argument('<name>', 'the plugin name (also its file name: NAME.sh or NAME.py)')
    .addOption(
      option('--lang <language>', 'the language of the plugin', 'LANG')
        .choices(['bash', 'python'])
        .makeOptionMandatory(),
    )
    .addOption(option('--dir <dir>', 'where to write it (created if missing)', 'DIR').default('.'))
    .action(run(async () => (await import('./commands/plugin-new.ts')).pluginNew));
  pluginCommand
    .command('check')
    .description('check a plugin against the protocol, running it as taskhost does (registers nothing)')
    .argument('<path>', 'the plugin file')
    .addOption(
      option('--data <json>', "the data to run it with (default: from its schema's examples)", 'DATA'),
    )
    .addOption(option('--data-file <file>', 'read the data from a JSON file ("-" for stdin)', 'DATA_FILE'))
    .addOption(option('--timeout <seconds>', "override the plugin's timeout for the run", 'TIMEOUT'))
    .addOption(option('--json', 'print the rules as JSON', 'JSON'))
    .addHelpText(
      'after',
      `
Every rule ends pass, warn, fail or skip, and a warning or a failure comes with its fix.
The plugin really runs (once with \`schema\`, once with the data): mind its side effects.

Exit code: 0 when no rule fails, 1 when one does, 2 for bad usage.`,
    )
    .action(run(async () => (await import('./commands/plugin-check.ts')).pluginCheck));
  pluginCommand
    .command('helper')
    .description('print the helper a plugin uses (taskhost.sh or taskhost_plugin.py), to vendor next to it')
    .addOption(
      option('--lang <language>', 'the helper of which language', 'LANG')
        .choices(['bash', 'python'])
        .makeOptionMandatory(),
    )
    .action(run(async () => (await import('./commands/plugin-helper.ts')).pluginHelper));

  const templateCommand = program
    .command('template')
    .description('workflow templates: validate files, list a directory (no store needed)');
  const templateOptions = (command: Command): Command =>
    storeOptions(
      command
        .addOption(
          option('--functions <dir>', 'the functions templates may use as action types', 'FUNCTIONS').default(
            'templates/functions',
          ),
        )
        .addOption(
          option(
            '--plugins',
            'accept registered plugins as action types (opens the store); without it only builtins and functions',
            'PLUGINS',
          ),
        ),
    );
  templateOptions(
    templateCommand
      .command('validate')
      .description(
        'check template files: prints "FILE: ok" or one line per problem, FILE:LINE:COLUMN: FIELD: MESSAGE',
      )
      .argument('<file...>', 'template files (a directory: its *.yaml and *.yml files)'),
  )
    .addHelpText(
      'after',
      `
Action types are checked against the builtins (echo, http, script, subtask, callback, batch,
notify) and the functions of --functions; registered plugins only with --plugins.

Exit code: 0 when every file is valid (functions included), 2 otherwise.`,
    )
    .action(run(async () => (await import('./commands/template.ts')).validate));
  templateOptions(
    templateCommand
      .command('list')
      .description('list the valid templates of a directory (problems of the others on stderr)')
      .addOption(option('--templates <dir>', 'the templates directory', 'TEMPLATES').default('templates'))
      .addOption(option('--json', 'print JSON instead of a table', 'JSON')),
  )
    .addHelpText('after', '\nExit code: 0 when every file is valid, 2 otherwise.')
    .action(run(async () => (await import('./commands/template.ts')).list));

  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  const runCommand = storeOptions(
    program
      .command('run')
      .description('create a task from a template and resolve it here (or: run watch ID)')
      .argument('[template]', 'a template file, or the name of a template in --templates')
      .addOption(
        option('--input <key=value>', 'a task input (repeat for several)', 'INPUT').argParser(collect),
      )
      .addOption(option('--input-json <json>', 'task inputs as a JSON object', 'INPUT_JSON'))
      .addOption(
        option(
          '--resolver-input <key=value>',
          'a resolver input (repeat for several)',
          'RESOLVER_INPUT',
        ).argParser(collect),
      )
      .addOption(option('--templates <dir>', 'the templates directory', 'TEMPLATES').default('templates'))
      .addOption(
        option('--functions <dir>', 'the functions directory', 'FUNCTIONS').default('templates/functions'),
      )
      .addOption(
        option('--scripts <dir>', 'where the script action finds its files', 'SCRIPTS').default('scripts'),
      )
      .addOption(option('--once', 'one resolution run, then stop (no waiting for retries)', 'ONCE'))
      .addOption(option('--json', 'print the task document as JSON', 'JSON'))
      .addOption(
        option('--resume <task-id>', 'run an existing task again (after a crash, a fix, a wait)', 'RESUME'),
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  taskhost run hello --input name=world
  taskhost run templates/payments-antifraud.yaml --input-json '{"amount": 120}' --json
  taskhost run --resume 6f1c…   (a task left CRASHED, WAITING or blocked)

Exit code: 0 when the task is DONE, 1 when it is not, 2 for bad usage or an invalid template.`,
    )
    .action(run(async () => (await import('./commands/run-template.ts')).runTemplate));
  runCommand
    .command('watch')
    .description("follow a run's live stream until it ends (exit code from its final state)")
    .argument('<id>', 'the run id')
    .addOption(option('--server <url>', 'the taskhost server', 'SERVER').default('http://127.0.0.1:8081'))
    .addOption(option('--since <seq>', 'resume after this event number', 'SINCE').default('0'))
    .action(run(async () => (await import('./commands/watch.ts')).watchRun));

  const server = (): Option =>
    option('--server <url>', 'the taskhost server', 'SERVER').default('http://127.0.0.1:8081');
  const taskCommand = program.command('task').description('tasks on a running server (taskhost serve)');
  taskCommand
    .command('create')
    .description("create a task from one of the server's templates")
    .argument('<template>', 'the template name')
    .addOption(option('--input <key=value>', 'a task input (repeat for several)', 'INPUT').argParser(collect))
    .addOption(option('--watch', 'follow the task until it ends (exit code from its state)', 'WATCH'))
    .addOption(option('--json', 'print the task document as JSON', 'JSON'))
    .addOption(server())
    .action(run(async () => (await import('./commands/task.ts')).taskCreate));
  taskCommand
    .command('list')
    .description('list tasks, newest first')
    .addOption(option('--state <state>', 'only tasks in this state', 'STATE'))
    .addOption(option('--template <name>', 'only tasks of this template', 'TEMPLATE'))
    .addOption(option('--json', 'print JSON instead of a table', 'JSON'))
    .addOption(server())
    .action(run(async () => (await import('./commands/task.ts')).taskList));
  taskCommand
    .command('show')
    .description('show a task and its steps (exit 0 when DONE)')
    .argument('<id>', 'the task id')
    .addOption(option('--json', 'print the task document as JSON', 'JSON'))
    .addOption(server())
    .action(run(async () => (await import('./commands/task.ts')).taskShow));
  taskCommand
    .command('watch')
    .description("follow a task's live stream: step states and plugin lines (exit code from its final state)")
    .argument('<id>', 'the task id')
    .addOption(server())
    .action(run(async () => (await import('./commands/task.ts')).taskWatch));

  const userCommand = program
    .command('user')
    .description('basic-auth users of taskhost serve (auth is on once the users file exists)');
  const userOptions = (command: Command): Command =>
    command
      .addOption(
        option('--config <file>', 'the settings file (default: ./taskhost.yaml, if it exists)', 'CONFIG'),
      )
      .addOption(
        option(
          '--users-file <file>',
          "the users file (default: taskhost.yaml's auth.users_file, .taskhost/users)",
          'USERS_FILE',
        ),
      );
  userOptions(
    userCommand
      .command('add')
      .description(
        'add a user, or set the password of one: the password is read from stdin (scrypt-hashed, file mode 0600)',
      )
      .argument('<name>', 'the user name (no colon or space)')
      .addOption(
        option('--groups <a,b>', "the user's groups, comma-separated (kept when omitted)", 'GROUPS'),
      ),
  )
    .addHelpText(
      'after',
      `
Example:
  printf '%s' "$PASSWORD" | taskhost user add alice --groups ops,leads`,
    )
    .action(run(async () => (await import('./commands/user.ts')).userAdd));
  userOptions(
    userCommand.command('remove').description('remove a user').argument('<name>', 'the user name'),
  ).action(run(async () => (await import('./commands/user.ts')).userRemove));
  userOptions(
    userCommand
      .command('list')
      .description('list the users and their groups')
      .addOption(option('--json', 'print JSON', 'JSON')),
  ).action(run(async () => (await import('./commands/user.ts')).userList));

  const keyCommand = program
    .command('key')
    .description('the key ring of encryption at rest (encryption.keys_file, TASKHOST_KEYS_FILE)');
  storeOptions(
    keyCommand.command('add').description('append a new key to the ring: the newest encrypts new values'),
  ).action(run(async () => (await import('./commands/keys.ts')).keyAdd));
  storeOptions(
    keyCommand
      .command('list')
      .description("the ring's labels, oldest first, and how many stored rows each encrypts")
      .addOption(option('--json', 'print the keys as JSON', 'JSON')),
  ).action(run(async () => (await import('./commands/keys.ts')).keyList));
  storeOptions(
    keyCommand
      .command('remove')
      .description('remove a key from the ring (refused while any stored row uses it)')
      .argument('<label>', "the key's label (taskhost key list)"),
  ).action(run(async () => (await import('./commands/keys.ts')).keyRemove));
  storeOptions(
    keyCommand
      .command('rotate')
      .description(
        're-encrypt every stored value under the newest key, in batches (run it again to resume); ' +
          'on a running server use POST /key-rotate, which holds it in maintenance mode meanwhile',
      ),
  ).action(run(async () => (await import('./commands/keys.ts')).keyRotate));

  return program;
}

const program = buildProgram();
await program.parseAsync(normaliseArgv(process.argv.slice(2), longFlagsOf(program)), { from: 'user' });
