import fs from 'node:fs';
import path from 'node:path';
import { HELPERS_DIR } from '../paths.ts';

/**
 * What `taskhost plugin new` writes: a plugin that is correct by construction (a
 * self-description with a title, a description and an `inputs` schema with one example
 * property and `additionalProperties: false`; the request read by the helper; a log line;
 * a result built by a JSON encoder; exit 0 after a handled failure), sample data for
 * `plugin check`, and the helper it uses, vendored next to it.
 *
 * Why a vendored helper rather than one embedded in each plugin: the plugin stays a page
 * that shows only its own work, one helper serves every plugin of a folder, and it is
 * still one self-contained folder at run time (taskhost runs a plugin with its own
 * directory as cwd and a minimal environment; the plugin finds the helper beside its own
 * file, not through the cwd or a variable). The helper is not executable, so `taskhost
 * serve` does not take it for a plugin.
 */

export const PLUGIN_LANGUAGES = ['bash', 'python'] as const;
export type PluginLanguage = (typeof PLUGIN_LANGUAGES)[number];

/** The helper file each language's plugins use, in src/plugins/helpers/ and next to a plugin. */
export const HELPER_FILES: Record<PluginLanguage, string> = {
  bash: 'taskhost.sh',
  python: 'taskhost_plugin.py',
};

const EXTENSIONS: Record<PluginLanguage, string> = { bash: '.sh', python: '.py' };

export interface ScaffoldFile {
  /** The file name, in the target directory. */
  name: string;
  content: string;
  mode: number;
  role: 'plugin' | 'data' | 'helper';
}

/** The helper's source, as shipped with taskhost. */
export function readHelper(language: PluginLanguage): string {
  return fs.readFileSync(path.join(HELPERS_DIR, HELPER_FILES[language]), 'utf8');
}

/** "disk-usage" → "Disk usage". */
function titleOf(name: string): string {
  const words = name.replace(/[-_.]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export const SAMPLE_DATA = { who: 'Ada' };

function bashPlugin(name: string, file: string, dataFile: string): string {
  return `#!/usr/bin/env bash
# ${name}: a taskhost action plugin (protocol v1), written by \`taskhost plugin new\`.
#
# Run with \`schema\`, it prints the description below and exits. Run with no argument, it
# reads {"meta": {...}, "data": {...}} on stdin, logs on stderr, and prints its result as
# the LAST line of stdout.
#
# Edit the description (its "inputs" schema describes "data") and the work, then:
#   taskhost plugin check ./${file} --data-file ${dataFile}
#
# taskhost.sh, next to this file, does the protocol: it reads the request, and reads and
# writes JSON with jq when present, else python3 (its first lines list what it offers).
set -euo pipefail
source "$(dirname "$(readlink -f "\${BASH_SOURCE[0]}")")/taskhost.sh"

# The self-description. The quoted 'EOF' keeps "$schema" as written.
th_schema <<'EOF'
{
  "name": ${JSON.stringify(name)},
  "title": ${JSON.stringify(titleOf(name))},
  "description": "Greets someone. Say here what ${name} does.",
  "timeout": 30,
  "inputs": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["who"],
    "properties": {
      "who": { "type": "string", "minLength": 1, "description": "whom to greet", "examples": ["Ada"] }
    },
    "additionalProperties": false
  }
}
EOF

# The work. taskhost has checked "data" against "inputs" before starting the plugin.
who=$(th_input who)
th_log "greeting $who"

if [[ "$who" == nobody ]]; then
  # A handled failure: a result that says why, then exit 0 (th_fail exits).
  th_fail "there is nobody to greet" CLIENT_ERROR
fi

# The result, encoded as JSON (never pasted together), then exit 0 (th_ok exits).
th_ok "$(th_json greeting="hello $who")"
`;
}

function pythonPlugin(name: string, file: string, dataFile: string): string {
  return `#!/usr/bin/env python3
"""${name}: a taskhost action plugin (protocol v1), written by \`taskhost plugin new\`.

Run with \`schema\`, it prints DESCRIPTION and exits. Run with no argument, it reads
{"meta": {...}, "data": {...}} on stdin, logs on stderr, and prints its result as the LAST
line of stdout.

Edit DESCRIPTION (its "inputs" schema describes "data") and the work, then:
    taskhost plugin check ./${file} --data-file ${dataFile}

taskhost_plugin.py, next to this file, does the protocol (standard library only).
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__/ next to the plugin
from taskhost_plugin import describe, fail, log, ok, read_request  # noqa: E402 (the helper next to this file)

DESCRIPTION = {
    "name": ${JSON.stringify(name)},
    "title": ${JSON.stringify(titleOf(name))},
    "description": "Greets someone. Say here what ${name} does.",
    "timeout": 30,
    "inputs": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["who"],
        "properties": {
            "who": {"type": "string", "minLength": 1, "description": "whom to greet", "examples": ["Ada"]},
        },
        "additionalProperties": False,
    },
}

describe(DESCRIPTION)  # with the argument \`schema\`: prints DESCRIPTION, and exits

# The work. taskhost has checked "data" against "inputs" before starting the plugin.
who = read_request()["data"]["who"]
log("greeting", who)

if who == "nobody":
    # A handled failure: a result that says why, then exit 0 (fail() exits).
    fail("there is nobody to greet", state="CLIENT_ERROR")

# The result, encoded as JSON by the helper, then exit 0 (ok() exits).
ok({"greeting": "hello " + who})
`;
}

/** The files of a new plugin `name` (a valid plugin name) in `language`. */
export function scaffoldPlugin(name: string, language: PluginLanguage, helper: string): ScaffoldFile[] {
  const file = `${name}${EXTENSIONS[language]}`;
  const dataFile = `${name}.data.json`;
  const source = language === 'bash' ? bashPlugin(name, file, dataFile) : pythonPlugin(name, file, dataFile);
  return [
    { name: file, content: source, mode: 0o755, role: 'plugin' },
    { name: dataFile, content: `${JSON.stringify(SAMPLE_DATA, null, 2)}\n`, mode: 0o644, role: 'data' },
    { name: HELPER_FILES[language], content: helper, mode: 0o644, role: 'helper' },
  ];
}
