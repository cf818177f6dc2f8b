# shellcheck shell=bash
# taskhost.sh: helpers for taskhost action plugins written in bash (protocol v1).
#
# Vendor this one file next to your plugin, and source it first, with no argument:
#
#     taskhost plugin helper --lang bash > taskhost.sh     # keep it NOT executable
#     source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/taskhost.sh"
#
# taskhost runs a plugin with its own directory as working directory and a minimal
# environment (PATH, HOME, LANG, TASKHOST_*): the file next to it is all it needs.
# `taskhost serve` registers every executable file of tasks/ as a plugin, so this file
# stays non-executable. Needs bash >= 4, and jq for JSON when it is on PATH, else python3.
#
#   th_schema [FILE]         called with `schema`: prints the description (FILE, or the
#                            heredoc on stdin) and exits 0; otherwise does nothing.
#                            Quote the heredoc's delimiter: th_schema <<'EOF'
#   th_input FIELD [DEFAULT] prints data.FIELD (a.b or a.0 reach inside): a string as it
#                            is, any other value as compact JSON; DEFAULT (or nothing)
#                            when it is absent or null
#   th_log MESSAGE...        prints a log line, on stderr
#   th_json KEY=VALUE... KEY:=JSON...
#                            prints a JSON object: KEY=VALUE sets a string, KEY:=JSON a
#                            JSON value (number, true, null, object...)
#   th_ok [PAYLOAD_JSON|-] [--reason R] [--metadata JSON] [--state S]
#                            prints the success result (status 1) and exits 0; `-` reads
#                            the payload on stdin (th_ok - <file; not at the end of a pipe,
#                            which runs it in a subshell); S is a custom state (upper-case word)
#   th_fail REASON [STATE [PAYLOAD_JSON]]
#                            prints a failure result (status 0) and exits 0. STATE:
#                            CLIENT_ERROR (the default: bad input, not retried),
#                            SERVER_ERROR (retried) or FATAL_ERROR (not retried)
#
# In a run, $TH_REQUEST holds the whole request: {"meta": {...}, "data": {...}}.
# th_ok and th_fail end the plugin: the result is the last line of stdout, and the exit
# code is 0 (a non-zero exit code fails a run whatever its result says). Call them from the
# plugin's own shell, not in $(...) or a pipe, whose subshell they would end instead.

# The plugin was called with `schema` (sourced without arguments, "$1" is the plugin's).
if [ "${1:-}" = schema ]; then TH_MODE=schema; else TH_MODE=run; fi
TH_PLUGIN_DIR=$(cd "$(dirname "$(readlink -f "$0" 2>/dev/null || printf '%s' "$0")")" && pwd)
TH_REQUEST=

# The line printed when nothing else can encode a result: a constant, valid JSON.
th__constant_failure() {
  printf '%s\n' "{\"status\": 0, \"reason\": \"$1\", \"state\": \"FATAL_ERROR\", \"payload\": null}"
  exit 0
}

if command -v jq >/dev/null 2>&1; then
  TH_JSON_TOOL=jq
elif command -v python3 >/dev/null 2>&1; then
  TH_JSON_TOOL=python3
elif [ "$TH_MODE" = run ]; then
  th__constant_failure 'taskhost.sh needs jq or python3 on PATH'
else
  echo 'taskhost.sh: needs jq or python3 on PATH' >&2
  exit 1
fi

# The python3 programs: values only ever come in as arguments or on stdin.
TH__PY_CHECK_REQUEST='
import json, sys
try:
    value = json.loads(sys.stdin.read())
except ValueError as error:
    sys.exit("not JSON (%s)" % error)
if not isinstance(value, dict):
    sys.exit("not a JSON object")
'
TH__PY_INPUT='
import json, sys
value = json.loads(sys.stdin.read()).get("data")
for key in sys.argv[1].split(".") if sys.argv[1] else []:
    if isinstance(value, dict):
        value = value.get(key)
    elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
        value = value[int(key)]
    else:
        value = None
if value is None:
    sys.stdout.write("A")
elif isinstance(value, str):
    sys.stdout.write("P" + value)
else:
    sys.stdout.write("P" + json.dumps(value, separators=(",", ":"), ensure_ascii=False))
'
TH__PY_JSON='
import json, sys
out = {}
for pair in sys.argv[1:]:
    key, sep, value = pair.partition("=")
    if not sep:
        sys.exit("th_json: %s is neither KEY=VALUE nor KEY:=JSON" % pair)
    if key.endswith(":"):
        try:
            out[key[:-1]] = json.loads(value)
        except ValueError:
            sys.exit("th_json: the value of %s is not JSON: %s" % (key[:-1], value))
    else:
        out[key] = value
print(json.dumps(out, separators=(",", ":"), ensure_ascii=False))
'
TH__PY_RESULT='
import json, sys
status, reason, state, metadata = sys.argv[1:5]
try:
    payload = json.loads(sys.stdin.read())
except ValueError as error:
    sys.exit("the payload is not one JSON value (%s)" % error)
result = {"status": int(status), "reason": reason}
if state:
    result["state"] = state
if metadata:
    try:
        result["metadata"] = json.loads(metadata)
    except ValueError as error:
        sys.exit("the metadata is not JSON (%s)" % error)
    if not isinstance(result["metadata"], dict):
        sys.exit("the metadata is not a JSON object")
result["payload"] = payload
print(json.dumps(result))
'
TH__PY_SCHEMA='
import json, sys
try:
    value = json.loads(sys.stdin.read())
except ValueError as error:
    sys.exit("the description is not valid JSON (%s)" % error)
def empty_key(node):
    if isinstance(node, dict):
        return "" in node or any(empty_key(child) for child in node.values())
    if isinstance(node, list):
        return any(empty_key(child) for child in node)
    return False
if empty_key(value):
    print("empty key")
'

TH__JQ_INPUT='
  def step($key): if type == "object" then .[$key]
    elif type == "array" and ($key | test("^[0-9]+$")) then .[$key | tonumber]
    else null end;
  reduce ($field | if . == "" then [] else split(".") end)[] as $key (.data; step($key))
  | if . == null then "A" elif type == "string" then "P" + . else "P" + tojson end'
TH__JQ_RESULT='
  if length != 1 then error("the payload is not one JSON value (\(length) values)") else .[0] end
  | {status: ($status | tonumber), reason: $reason}
    + (if $state != "" then {state: $state} else {} end)
    + (if $metadata != "" then {metadata: ($metadata | fromjson)} else {} end)
    + {payload: .}
  | if has("metadata") and (.metadata | type) != "object" then error("the metadata is not a JSON object") else . end'

# th__result STATUS REASON STATE METADATA: the result line, from the payload on stdin.
th__result() {
  if [ "$TH_JSON_TOOL" = jq ]; then
    jq -cs --arg status "$1" --arg reason "$2" --arg state "$3" --arg metadata "$4" "$TH__JQ_RESULT" 2>&1
  else
    python3 -c "$TH__PY_RESULT" "$@" 2>&1
  fi
}

th_log() {
  printf '%s\n' "$*" >&2
}

th_fail() {
  local reason=${1:-failed} state=${2:-CLIENT_ERROR} payload=${3:-null} line
  case $state in
    CLIENT_ERROR | SERVER_ERROR | FATAL_ERROR) ;;
    *)
      th_log "th_fail: $state is not CLIENT_ERROR, SERVER_ERROR or FATAL_ERROR; using SERVER_ERROR"
      state=SERVER_ERROR
      ;;
  esac
  if line=$(printf '%s' "$payload" | th__result 0 "$reason" "$state" ""); then
    printf '%s\n' "$line"
    exit 0
  fi
  th_log "th_fail: $line"
  if [ "$payload" != null ]; then th_fail "$reason" "$state"; fi # the payload was the trouble
  th__constant_failure 'taskhost.sh could not encode the failure reason'
}

th_ok() {
  local payload=null reason=ok state='' metadata='' from_stdin=false failed=false line
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    if [ "$1" = - ]; then from_stdin=true; else payload=$1; fi
    shift
  fi
  while [ $# -gt 0 ]; do
    case $1 in
      --reason) reason=${2-} ;;
      --metadata) metadata=${2-} ;;
      --state) state=${2-} ;;
      *) th_fail "th_ok: unknown option $1 (use --reason, --metadata or --state)" SERVER_ERROR ;;
    esac
    [ $# -ge 2 ] || th_fail "th_ok: $1 needs a value" SERVER_ERROR
    shift 2
  done
  if [ "$from_stdin" = true ]; then
    line=$(th__result 1 "$reason" "$state" "$metadata") || failed=true
  else
    line=$(printf '%s' "$payload" | th__result 1 "$reason" "$state" "$metadata") || failed=true
  fi
  if [ "$failed" = true ]; then th_fail "th_ok: ${line#jq: error (at *): }" SERVER_ERROR; fi
  printf '%s\n' "$line"
  exit 0
}

th_json() {
  if [ "$TH_JSON_TOOL" = python3 ]; then
    python3 -c "$TH__PY_JSON" "$@"
    return
  fi
  local object='{}' pair key value
  for pair in "$@"; do
    case $pair in
      *=*) ;;
      *)
        th_log "th_json: $pair is neither KEY=VALUE nor KEY:=JSON"
        return 1
        ;;
    esac
    key=${pair%%=*}
    value=${pair#*=}
    case $key in
      *:)
        object=$(jq -c --arg key "${key%:}" --argjson value "$value" '. + {($key): $value}' <<<"$object" 2>/dev/null) || {
          th_log "th_json: the value of ${key%:} is not JSON: $value"
          return 1
        }
        ;;
      *) object=$(jq -c --arg key "$key" --arg value "$value" '. + {($key): $value}' <<<"$object") || return 1 ;;
    esac
  done
  printf '%s\n' "$object"
}

th_input() {
  local out
  if [ "$TH_JSON_TOOL" = jq ]; then
    out=$(jq -j --arg field "${1-}" "$TH__JQ_INPUT" <<<"$TH_REQUEST") || return 1
  else
    out=$(python3 -c "$TH__PY_INPUT" "${1-}" <<<"$TH_REQUEST") || return 1
  fi
  if [ "${out:0:1}" = P ]; then
    printf '%s\n' "${out:1}"
  elif [ $# -ge 2 ]; then
    printf '%s\n' "$2"
  fi
}

th_schema() {
  local text found failed=false
  if [ $# -gt 0 ]; then
    [ "$TH_MODE" = schema ] || return 0
    case $1 in /*) text=$1 ;; *) text=$TH_PLUGIN_DIR/$1 ;; esac
    text=$(cat -- "$text") || exit 1
  else
    [ "$TH_MODE" = schema ] || return 0
    text=$(cat)
  fi
  if [ "$TH_JSON_TOOL" = jq ]; then
    found=$(jq -r '[.. | objects | keys[] | select(. == "")] | if length > 0 then "empty key" else empty end' <<<"$text" 2>&1) || failed=true
  else
    found=$(python3 -c "$TH__PY_SCHEMA" <<<"$text" 2>&1) || failed=true
  fi
  if [ "$failed" = true ]; then
    echo "taskhost.sh: th_schema: the description is not valid JSON: $found" >&2
    exit 1
  fi
  if [ "$found" = "empty key" ]; then
    echo "taskhost.sh: th_schema: the description has an empty key: quote the heredoc delimiter (<<'EOF') so that \"\$schema\" stays" >&2
  fi
  printf '%s\n' "$text"
  exit 0
}

# A run reads its request once, here: th_input may then be called in $(...) any number of times.
if [ "$TH_MODE" = run ]; then
  if [ -t 0 ]; then th_log 'taskhost.sh: reading the request on stdin ({"meta": {...}, "data": {...}}, then Ctrl-D)'; fi
  TH_REQUEST=$(cat)
  if [ "$TH_JSON_TOOL" = jq ]; then
    jq -es 'length == 1 and (.[0] | type) == "object"' <<<"$TH_REQUEST" >/dev/null 2>&1 || th_fail 'stdin is not a protocol v1 request (a JSON object {"meta": ..., "data": ...})'
  else
    python3 -c "$TH__PY_CHECK_REQUEST" <<<"$TH_REQUEST" 2>/dev/null || th_fail 'stdin is not a protocol v1 request (a JSON object {"meta": ..., "data": ...})'
  fi
fi
