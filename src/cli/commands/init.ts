import fs from 'node:fs';
import path from 'node:path';
import packageJson from '../../../package.json' with { type: 'json' };
import { TaskhostError } from '../../errors.ts';
import { shellQuote } from '../output.ts';

/**
 * `taskhost init [DIR]`: starts a project. Writes an example plugin, the templates folders,
 * a taskhost.yaml listing every setting commented out with its default, and a .gitignore
 * entry for `.taskhost/`. It never overwrites a file: if one it would write exists, it
 * writes nothing. It needs no store.
 */

/** The example plugin: protocol v1 in bash, with node (which taskhost needs anyway) as its JSON tool. */
export const EXAMPLE_PLUGIN = `#!/usr/bin/env bash
# hello: an example taskhost action plugin, written by \`taskhost init\`. Copy it to start yours.
#
# A plugin is any executable that speaks taskhost's protocol v1:
#   ./hello.sh schema   prints one JSON object that describes the plugin, and exits 0;
#   ./hello.sh          reads one JSON document on stdin, {"meta": {...}, "data": {...}},
#                       and prints its result as the LAST line of stdout:
#                       {"status": 1, "reason": "ok", "payload": ...}   (status 1 = success)
# Every other line it prints, on stdout or stderr, is a log line. Exit 0 even after a
# failure result: a non-zero exit code is a failure of its own that hides your reason.
# JSON is read and written with node, never pasted together from strings.
set -euo pipefail

if [ "$#" -gt 0 ] && [ "$1" = "schema" ]; then
  # The delimiter is quoted ('EOF') so that the shell leaves "$schema" alone.
  cat <<'EOF'
{
  "name": "hello",
  "description": "Says hello to someone (the example plugin of taskhost init)",
  "title": "Hello",
  "category": "examples",
  "tags": ["example"],
  "timeout": 10,
  "idempotent": true,
  "inputs": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["who"],
    "properties": {
      "who": { "type": "string", "minLength": 1, "maxLength": 200, "description": "whom to greet" }
    },
    "additionalProperties": false
  }
}
EOF
  exit 0
fi

# taskhost has checked "data" against "inputs" before starting this: "who" is a string.
who=$(node -e 'const input = JSON.parse(require("fs").readFileSync(0, "utf8")); process.stdout.write(input.data.who)')
echo "greeting $who" >&2

# The result, last on stdout.
node -e 'console.log(JSON.stringify({ status: 1, reason: "ok", payload: { greeting: "hello " + process.argv[1] } }))' "$who"
exit 0
`;

/**
 * taskhost.yaml. Every setting is commented out, so the file parses to an empty document.
 * Two kinds of lines: prose, `# ` then text; settings, `#` then the YAML line itself (a key
 * at column 0, or indented under its section), so removing that one `#` enables it.
 */
export function configFile(version: string): string {
  return `# taskhost.yaml: the settings of this taskhost project, written by \`taskhost init\`.
#
# Every setting is optional and shown commented out with its default. To change one,
# remove the "#" in front of it (and in front of its section, such as "#auth:").
# Command-line flags and TASKHOST_* environment variables override this file, for example
# --port 9000 or TASKHOST_PORT=9000. Another file: --config FILE or TASKHOST_CONFIG=FILE.
# taskhost ${version} reads this file from the working directory in every command that
# uses these settings (serve, run, execute…); an unknown key or a bad value stops it with
# one line naming the key.
# Its JSON Schema: schemas/config.schema.json in the taskhost package.

# --- The server (taskhost serve) ---
# The address to listen on; without authentication, loopback addresses only.
#port: 8081
#host: 127.0.0.1
# Executables registered as plugins when the server starts.
#tasks: tasks
# Workflow templates, and the functions they call.
#templates: templates
#functions: templates/functions
# The output a run keeps, in bytes: its head and its tail, the middle dropped.
#output_cap: 1048576

# --- The store ---
# The embedded PostgreSQL, created on first use, and taskhost's local state.
#data_dir: .taskhost
# An external PostgreSQL (13 or newer) instead, as in production (also DATABASE_URL),
# for example postgres://user:password@db.example.com:5432/taskhost. Empty: embedded.
#database_url:

# --- Who may do what ---
# Users with every right (also TASKHOST_ADMINS=alice,bob).
#admins: []
# Authentication is on once users_file exists or trusted_header is set: then every route
# but /unsecured/* needs an identity.
#auth:
#  users_file: .taskhost/users          # basic-auth users, written by \`taskhost user add\`
#  trusted_header:                      # identity from a reverse proxy, e.g. x-remote-user; empty: off
#  trusted_groups_header:               # that user's groups, e.g. x-remote-groups
#  trusted_proxies: ['127.0.0.1/32', '::1/128']   # peers whose trusted headers are believed
# Host header values accepted besides loopback names; others are refused (DNS rebinding).
#allowed_hosts: []

# --- Data at rest ---
# The AES-256-GCM key ring, created with one key on first start (also TASKHOST_KEYS_FILE).
#encryption:
#  keys_file: .taskhost/keys.json

# --- Templates and the engine ---
# The \`config\` root of templates: named items, {value: ANY, secret: BOOL}. A secret value
# is shown as *** in every log, output, error and API answer. For example:
# config: {payments_api: {value: {url: "https://pay.example/api"}}, token: {value: "s3cr3t", secret: true}}
#config: {}
# How long a finished task is kept, as a duration (720h is 30 days; 0 keeps them for good).
#completed_task_expiration: 720h
# Tasks this instance runs at once: 0 stops all processing, -1 means no limit.
#max_concurrent_executions: 100

# --- Several instances on one PostgreSQL ---
# How often a server says it is alive, and how long it may stay silent before another
# instance takes its work over (with these defaults, within a minute of its death).
#heartbeat_interval: 10s
#instance_death_timeout: 30s
# Maintenance: the API refuses every change (503) and this instance claims no work
# (also TASKHOST_MAINTENANCE_MODE=true).
#maintenance_mode: false
# How many executions may hold a named resource (a step's \`resources\`) at once; a
# resource without a limit is free. For example: resource_limits: {openssl: 4}
#resource_limits: {}
`;
}

const IGNORED = '.taskhost/';

interface PlannedFile {
  relative: string;
  content: string;
  mode: number;
  what: string;
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Ensures .gitignore ignores .taskhost/: creates it, or appends one line to it. */
function ignoreStateDirectory(root: string): string | null {
  const file = path.join(root, '.gitignore');
  if (!exists(file)) {
    fs.writeFileSync(
      file,
      `# taskhost's local state: the embedded PostgreSQL's data, its log and socket\n${IGNORED}\n`,
      {
        flag: 'wx',
      },
    );
    return `.gitignore            ignores ${IGNORED} (the embedded PostgreSQL's data and local state)`;
  }
  const text = fs.readFileSync(file, 'utf8');
  const ignored = text.split('\n').some((line) => /^\/?\.taskhost\/?\s*$/.test(line));
  if (ignored) return null;
  fs.appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}${IGNORED}\n`);
  return `.gitignore            (existing) now also ignores ${IGNORED}`;
}

export async function init(dir: string | undefined): Promise<number> {
  const root = path.resolve(dir ?? '.');
  const files: PlannedFile[] = [
    {
      relative: 'taskhost.yaml',
      content: configFile(packageJson.version),
      mode: 0o644,
      what: 'every setting, commented out with its default',
    },
    {
      relative: path.join('tasks', 'hello.sh'),
      content: EXAMPLE_PLUGIN,
      mode: 0o755,
      what: 'an example plugin in bash (protocol v1)',
    },
  ];
  const taken = files.filter((file) => exists(path.join(root, file.relative)));
  if (taken.length > 0) {
    throw new TaskhostError(
      'TH_CLI_USAGE',
      `init writes nothing: ${taken.map((file) => path.join(root, file.relative)).join(' and ')} already ${taken.length > 1 ? 'exist' : 'exists'}; move ${taken.length > 1 ? 'them' : 'it'} away or pick another directory`,
    );
  }
  if (exists(root) && !fs.statSync(root).isDirectory()) {
    throw new TaskhostError('TH_CLI_USAGE', `init: ${root} exists and is not a directory`);
  }

  const created: string[] = [];
  for (const [folder, what] of [
    ['tasks', 'executables registered as plugins by `taskhost serve`'],
    ['templates', 'workflow templates (the engine that runs them comes in a later release)'],
    [path.join('templates', 'functions'), 'functions for templates'],
  ] as const) {
    if (!exists(path.join(root, folder))) created.push(`${`${folder}/`.padEnd(22)}${what}`);
    fs.mkdirSync(path.join(root, folder), { recursive: true });
  }
  for (const file of files) {
    // 'wx': never replace a file that appeared since the check above.
    fs.writeFileSync(path.join(root, file.relative), file.content, { flag: 'wx', mode: file.mode });
    fs.chmodSync(path.join(root, file.relative), file.mode); // whatever the umask
    created.push(`${file.relative.padEnd(22)}${file.what}`);
  }
  const gitignore = ignoreStateDirectory(root);
  if (gitignore) created.push(gitignore);

  const where = path.relative(process.cwd(), root);
  const serve =
    'taskhost serve        # leave it running: the API on http://127.0.0.1:8081, plugins from tasks/';
  const execute = `taskhost execute -name hello -taskArgs '{"who": "Ada"}'`;
  const commands =
    where === ''
      ? [
          serve,
          'taskhost list         # in a second terminal: the registered plugins',
          `${execute}   # run the example once`,
        ]
      : [
          `cd ${shellQuote(where.startsWith('..') || path.isAbsolute(where) ? root : where)}`,
          serve,
          `${execute}   # in a second terminal, in that directory`,
        ];
  process.stdout.write(
    `created a taskhost project in ${root}:\n${created.map((line) => `  ${line}\n`).join('')}` +
      `\nnext:\n${commands.map((line) => `  ${line}\n`).join('')}`,
  );
  return 0;
}
