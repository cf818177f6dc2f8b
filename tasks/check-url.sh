#!/usr/bin/env bash
# =============================================================================
# check-url.sh: a taskhost action plugin, written in bash.
#
# Checks an HTTP(S) URL with curl: is it reachable, does it answer with an
# expected status (any 2xx/3xx by default), does the body contain a given
# string, and how long did each phase take (DNS, TCP connect, TLS handshake,
# first byte, total)? Use it as a health check before or after a deployment,
# or as a "wait until up" step: a failed check is retried by the host.
#
# -----------------------------------------------------------------------------
# The action plugin protocol (v1), in five lines
#   * `check-url.sh schema` prints ONE JSON object describing the plugin (name,
#     description, the JSON Schema of its inputs and of its result) and exits 0.
#   * Run with no argument, it reads ONE JSON document on stdin:
#       {"meta": {"protocol": "v1", "caller": "taskhost", "taskName": ..., "runId": ...,
#                 "attempt": ...}, "data": { ...the inputs below... }}
#   * Any line it prints is a log line. Logs go to stderr here, so stdout carries
#     nothing but the result.
#   * Its LAST stdout line is the result: {"status": 1, "reason": "ok", "payload": {...}}.
#     status 1 is success; anything else is a failure, retried by the host unless
#     "state" is "CLIENT_ERROR" (bad input: retrying cannot help) or "FATAL_ERROR".
#   * It exits 0 even when it reports a failure: a non-zero exit code is itself
#     a failure (SERVER_ERROR) that hides the reason and the state given above.
# The protocol's plumbing (the request, the description, the result line, exit 0)
# is done by taskhost.sh, the helper vendored next to this file (`taskhost plugin
# helper --lang bash` prints it): th_schema, th_ok and th_fail below.
#
# How failures map to states here:
#   invalid input (not an http/https URL, contains with HEAD...)  -> CLIENT_ERROR
#   unreachable (DNS, refused, timeout, TLS error...)            -> SERVER_ERROR (retried)
#   reachable but unexpected status, or the body lacks `contains` -> SERVER_ERROR (retried)
#   curl or python3 missing                                       -> FATAL_ERROR
# A failed check still carries a payload (status code, timings...) for the log.
#
# -----------------------------------------------------------------------------
# Habits worth copying into any bash plugin
#   * User data never becomes shell code: no eval, no `sh -c "...$url..."`. The
#     URL is validated, then given to curl as ONE argument after `--` (so it can
#     never be read as an option), from a bash array, always double-quoted.
#   * curl is locked down: `-q` (ignore ~/.curlrc), `--proto =http,https` and
#     `--proto-redir =http,https` (no file://, gopher://... even via a
#     redirect), `--globoff` (a URL with [1-1000] is not 1000 requests), a hard
#     `--max-time`.
#   * JSON is read and written by python3 (it is everywhere; jq often is not),
#     or by taskhost.sh (jq when present, else python3), with user values passed
#     on stdin or as argv, never pasted into a program.
#
# Requirements: bash >= 4, python3, curl >= 7.52, awk.
#
# Try it by hand:
#   ./check-url.sh schema | python3 -m json.tool
#   python3 -m http.server 8765 --bind 127.0.0.1 &
#   echo '{"meta":{"protocol":"v1","caller":"taskhost","taskName":"check-url"},
#          "data":{"url":"http://127.0.0.1:8765/","contains":"Directory listing"}}' | ./check-url.sh
# =============================================================================

set -euo pipefail
export LC_ALL=C # predictable messages, and "0.012" (not "0,012") in awk
umask 077

readonly PLUGIN_NAME=check-url

# Logs go to stderr: the host stores and streams them, and they can never be
# mistaken for the result line on stdout.
log() { printf '[%s] %s\n' "$PLUGIN_NAME" "$*" >&2; }

case "${1-}" in
  schema | "") ;; # the description, or a run: go on below
  *) printf 'usage: %s [schema]  (with no argument: reads a protocol v1 JSON document on stdin)\n' "$0" >&2; exit 2 ;;
esac

# The helper, next to this file. In a run it reads the request from stdin now.
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/taskhost.sh"

# -----------------------------------------------------------------------------
# Self-description: `check-url.sh schema` prints it and exits 0 (th_schema).
# The heredoc delimiter is QUOTED ('JSON') so that bash expands nothing inside:
# an unquoted heredoc would turn "$schema" into "".
# -----------------------------------------------------------------------------
th_schema <<'JSON'
{
  "name": "check-url",
  "title": "Check a URL",
  "description": "Requests an http(s) URL with curl and checks that it answers with an expected status (any 2xx or 3xx by default) and, optionally, that the body contains a string. Reports the status code and the latency of each phase (DNS, connect, TLS, first byte, total). Unreachable URLs and unexpected answers fail the step and are retried.",
  "category": "monitoring",
  "tags": ["http", "https", "health-check", "curl", "latency", "monitoring"],
  "expensive": false,
  "timeout": 130,
  "idempotent": true,
  "inputs": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": false,
    "required": ["url"],
    "properties": {
      "url": {
        "type": "string",
        "title": "URL",
        "description": "The http:// or https:// URL to request. No spaces or control characters (percent-encode them). Avoid credentials in it: URLs are logged.",
        "maxLength": 2048,
        "pattern": "^https?://[^\\s\\u0000-\\u001f\\u007f]+$",
        "examples": ["https://www.example.com/healthz"]
      },
      "method": {
        "type": "string",
        "description": "GET fetches the body; HEAD only the headers (then `contains` is not available).",
        "enum": ["GET", "HEAD"],
        "default": "GET"
      },
      "expected_status": {
        "description": "The status codes that count as success: a code (200), a range (\"200-299\"), or a list of both ([200, \"300-302\"]). The default, \"200-399\", accepts any 2xx or 3xx. With follow_redirects the final response's status is checked.",
        "default": "200-399",
        "anyOf": [
          { "type": "integer", "minimum": 100, "maximum": 599 },
          { "type": "string", "pattern": "^[1-5][0-9]{2}(-[1-5][0-9]{2})?$" },
          {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
              "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^[1-5][0-9]{2}(-[1-5][0-9]{2})?$" }
              ]
            }
          }
        ],
        "examples": [200, "200-299", [200, 204, "300-302"]]
      },
      "timeout_seconds": {
        "type": "number",
        "description": "Maximum time for the whole request, redirects included, in seconds.",
        "exclusiveMinimum": 0,
        "maximum": 120,
        "default": 10
      },
      "follow_redirects": {
        "type": "boolean",
        "description": "Follow Location redirects (at most 10, http and https only) and check the final response.",
        "default": true
      },
      "contains": {
        "type": "string",
        "description": "A string the response body must contain (exact, case-sensitive match on the UTF-8 bytes). GET only.",
        "minLength": 1,
        "maxLength": 4096
      },
      "insecure": {
        "type": "boolean",
        "description": "Skip TLS certificate verification (self-signed certificates). Use for tests only.",
        "default": false
      }
    }
  },
  "outputs": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "description": "The result envelope. On success (status 1) the payload holds the measurements; failures carry a payload too, with what could be measured.",
    "type": "object",
    "required": ["status", "reason"],
    "properties": {
      "status": { "type": "integer" },
      "reason": { "type": "string" },
      "state": { "type": "string" },
      "payload": {}
    },
    "if": { "properties": { "status": { "const": 1 } } },
    "then": {
      "required": ["payload"],
      "properties": {
        "payload": {
          "type": "object",
          "required": ["url", "status_code", "ok", "latency_ms", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "size_bytes", "final_url", "redirect_count"],
          "properties": {
            "url": { "type": "string", "description": "The URL requested." },
            "method": { "type": "string" },
            "status_code": { "type": "integer", "description": "HTTP status of the (final) response." },
            "ok": { "type": "boolean", "description": "True when the status was expected and the body held `contains`." },
            "expected_status": { "type": "string", "description": "The accepted statuses, normalized, e.g. \"200-399\"." },
            "latency_ms": { "type": "number", "description": "Total time, all redirects included." },
            "dns_ms": { "type": "number", "description": "Name resolution." },
            "connect_ms": { "type": "number", "description": "TCP connect, after resolution." },
            "tls_ms": { "type": ["number", "null"], "description": "TLS handshake, after connect; null over plain http." },
            "ttfb_ms": { "type": "number", "description": "Time to first byte, from the start of the request." },
            "size_bytes": { "type": "integer", "description": "Body bytes received (0 for HEAD)." },
            "final_url": { "type": "string", "description": "The URL of the last response, after redirects." },
            "redirect_count": { "type": "integer" },
            "remote_ip": { "type": ["string", "null"] },
            "http_version": { "type": ["string", "null"] },
            "content_type": { "type": ["string", "null"] },
            "contains_found": { "type": ["boolean", "null"], "description": "Whether the body held `contains`; null when not asked." }
          }
        }
      }
    }
  }
}
JSON

# -----------------------------------------------------------------------------
# JSON helpers (python3 programs kept in constants; data only comes in as argv
# or stdin, so a value can never change what the program does).
# -----------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || th_fail "python3 is required but was not found in PATH" FATAL_ERROR

# json_object KEY TYPE VALUE [KEY TYPE VALUE...] prints one JSON object.
# TYPE: str | int | num | bool (true/false) | null (VALUE ignored); a trailing
# '?' (str?, int?, num?, bool?) turns an empty VALUE into null.
PY_JSON_OBJECT=$(cat <<'PY'
import json, sys
args, out = sys.argv[1:], {}
convert = {"str": str, "int": int, "num": float, "bool": lambda v: v == "true", "null": lambda v: None}
for i in range(0, len(args), 3):
    key, kind, value = args[i:i + 3]
    if kind.endswith("?"):
        kind = kind[:-1]
        if value == "":
            out[key] = None
            continue
    if kind not in convert: raise SystemExit(f"json_object: unknown type {kind!r}")
    out[key] = convert[kind](value)
print(json.dumps(out))
PY
)
json_object() { python3 -c "$PY_JSON_OBJECT" "$@"; }

# Failures: th_fail prints the result line, then exits 0 (see the header).
fail_client() { log "invalid input: $1"; th_fail "$1" CLIENT_ERROR "${2:-null}"; } # never retried
fail_fatal() { log "fatal: $1"; th_fail "$1" FATAL_ERROR "${2:-null}"; }          # never retried
fail_server() { log "failed: $1"; th_fail "$1" SERVER_ERROR "${2:-null}"; }       # retried

command -v curl >/dev/null 2>&1 || fail_fatal "curl is required but was not found in PATH"

# -----------------------------------------------------------------------------
# Work area (holds the body when `contains` is asked), removed however we leave:
# the signal traps turn SIGTERM (the host's timeout) into an exit so that the
# EXIT trap runs.
# -----------------------------------------------------------------------------
workdir=$(mktemp -d "${TMPDIR:-/tmp}/check-url.XXXXXXXX")
cleanup() { rm -rf -- "$workdir"; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# -----------------------------------------------------------------------------
# Input: read the whole envelope, then validate it. The host already checked
# `data` against the inputs schema, but a plugin can be run by hand or by
# another host, so it checks again.
#
# The validator prints NUL-separated fields: "ok" and the normalized values, or
# "error" and a reason. NUL cannot occur in the values, so they split back
# exactly. The `contains` string goes to a file (it may hold anything,
# newlines included), and the body is compared with it byte for byte.
# -----------------------------------------------------------------------------
PY_PARSE_INPUT=$(cat <<'PY'
import json, math, re, sys
from urllib.parse import urlsplit

needle_file = sys.argv[1]
KNOWN = {"url", "method", "expected_status", "timeout_seconds", "follow_redirects", "contains", "insecure"}
CODE_OR_RANGE = re.compile(r"^([1-5][0-9]{2})(?:-([1-5][0-9]{2}))?$")

def emit(*fields):
    sys.stdout.write("".join(f + "\0" for f in fields))

def refuse(reason):
    emit("error", reason)
    sys.exit(0)

def status_item(item):
    """200 -> "200"; "300-302" -> "300-302"; anything else is refused."""
    if isinstance(item, float) and item.is_integer():
        item = int(item)
    if isinstance(item, int) and not isinstance(item, bool):
        if 100 <= item <= 599:
            return str(item)
    elif isinstance(item, str):
        m = CODE_OR_RANGE.match(item)
        if m and (m.group(2) is None or int(m.group(1)) <= int(m.group(2))):
            return item
    refuse(f"expected_status: {json.dumps(item)} is not a status code (100-599) or a range like \"200-299\"")

def boolean(data, key, default):
    value = data.get(key, default)
    if not isinstance(value, bool):
        refuse(f"{key} must be true or false, got {json.dumps(value)}")
    return "true" if value else "false"

try:
    doc = json.loads(sys.stdin.read())
except ValueError as e:
    refuse(f"stdin is not a JSON document: {e}")
if not isinstance(doc, dict):
    refuse("stdin must be a JSON object {\"meta\": ..., \"data\": ...}")
meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
if meta.get("protocol", "v1") != "v1":
    refuse(f"unsupported protocol {json.dumps(meta.get('protocol'))}: this plugin speaks v1")
where = ", ".join(f"{key} {meta[key]}" for key in ("runId", "taskId", "stepName", "attempt") if meta.get(key) is not None)
print(f"[check-url] {where or 'run'}", file=sys.stderr)

data = doc.get("data")
if not isinstance(data, dict):
    refuse("data must be a JSON object")
unknown = sorted(set(data) - KNOWN)
if unknown:
    refuse("unknown input(s): " + ", ".join(unknown))

url = data.get("url")
if not isinstance(url, str) or not url:
    refuse("url is required: an http:// or https:// URL")
if len(url) > 2048 or not re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", url):
    refuse(f"url {json.dumps(url[:200])} is not an http:// or https:// URL without spaces or control characters")
try:
    parts = urlsplit(url)
    parts.port  # raises ValueError on a bad port
except ValueError as e:
    refuse(f"url {json.dumps(url[:200])} is malformed: {e}")
if not parts.hostname:
    refuse(f"url {json.dumps(url[:200])} has no host")

method = data.get("method", "GET")
if method not in ("GET", "HEAD"):
    refuse(f"method must be GET or HEAD, got {json.dumps(method)}")

expected = data.get("expected_status", "200-399")
items = expected if isinstance(expected, list) else [expected]
if not 1 <= len(items) <= 50:
    refuse("expected_status must list 1 to 50 codes or ranges")
expected = ",".join(status_item(i) for i in items)

timeout = data.get("timeout_seconds", 10)
if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
        or not 0 < timeout <= 120:
    refuse(f"timeout_seconds must be a number above 0 and at most 120, got {json.dumps(timeout)}")

contains = data.get("contains")
if contains is not None:
    if not isinstance(contains, str) or not 1 <= len(contains) <= 4096:
        refuse("contains must be a non-empty string of at most 4096 characters")
    if method == "HEAD":
        refuse("contains needs the body: use method GET, not HEAD")
    with open(needle_file, "w", encoding="utf-8") as f:
        f.write(contains)
    shown = contains if len(contains) <= 60 else contains[:60] + "..."
else:
    shown = ""

emit("ok", url, method, expected, format(float(timeout), "g"),
     boolean(data, "follow_redirects", True), boolean(data, "insecure", False),
     "true" if contains is not None else "false", json.dumps(shown))
PY
)

input=$TH_REQUEST # ONE JSON document, read from stdin by taskhost.sh

needle_file=$workdir/needle
fields=()
while IFS= read -r -d '' field; do fields+=("$field"); done < <(python3 -c "$PY_PARSE_INPUT" "$needle_file" <<<"$input")
((${#fields[@]} > 0)) || fail_fatal "could not parse the input (python3 failed, see the log)"
[[ "${fields[0]}" == ok ]] || fail_client "${fields[1]-invalid input}"

url=${fields[1]}
method=${fields[2]}
expected=${fields[3]} # e.g. "200-399" or "200,204,300-302"
timeout_seconds=${fields[4]}
follow_redirects=${fields[5]}
insecure=${fields[6]}
check_body=${fields[7]}
contains_shown=${fields[8]} # JSON-quoted, shortened: for messages only

# -----------------------------------------------------------------------------
# The request
# -----------------------------------------------------------------------------
# What curl prints after the transfer (-w), one value a line; url_effective is
# last as the only free-form value (it cannot contain a newline anyway).
write_out='%{http_code}\n%{time_namelookup}\n%{time_connect}\n%{time_appconnect}\n%{time_starttransfer}\n%{time_total}\n%{size_download}\n%{num_redirects}\n%{remote_ip}\n%{http_version}\n%{content_type}\n%{url_effective}\n'

body_file=/dev/null
[[ "$check_body" == true ]] && body_file=$workdir/body

curl_args=(
  -q # must come first: ignore ~/.curlrc
  --silent --show-error
  --globoff
  --proto =http,https --proto-redir =http,https
  --max-time "$timeout_seconds"
  --user-agent "taskhost-check-url/1.0"
  --output "$body_file"
  --write-out "$write_out"
)
[[ "$method" == HEAD ]] && curl_args+=(--head) # not "-X HEAD", which waits for a body
[[ "$follow_redirects" == true ]] && curl_args+=(--location --max-redirs 10)
if [[ "$insecure" == true ]]; then
  curl_args+=(--insecure)
  log "WARNING: TLS certificate verification is disabled (insecure: true)"
fi

log "$method $url (timeout ${timeout_seconds} s, redirects: $follow_redirects, expecting $expected)"
curl_rc=0
measures=$(curl "${curl_args[@]}" -- "$url" 2>"$workdir/curl.err") || curl_rc=$?

m=()
while IFS= read -r line; do m+=("$line"); done <<<"$measures"
http_code=${m[0]:-000}
t_dns=${m[1]:-0} t_connect=${m[2]:-0} t_tls=${m[3]:-0} t_ttfb=${m[4]:-0} t_total=${m[5]:-0}
size_bytes=${m[6]:-0} redirects=${m[7]:-0} remote_ip=${m[8]-} http_version=${m[9]-}
content_type=${m[10]-} final_url=${m[11]:-$url}

# curl's times are seconds, cumulative from the start of the request: turn them
# into milliseconds per phase (awk does the floating point bash lacks).
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) * 1000; if (d < 0) d = 0; printf "%.1f", d }'; }
latency_ms=$(ms "$t_total")
dns_ms=$(ms "$t_dns")
connect_ms=$(ms_between "$t_connect" "$t_dns")
ttfb_ms=$(ms "$t_ttfb")
tls_ms="" # null over plain http: no handshake happened
if awk -v t="$t_tls" 'BEGIN { exit !(t > 0) }'; then tls_ms=$(ms_between "$t_tls" "$t_connect"); fi
[[ "$http_code" == 000 ]] && http_code="" # no HTTP response at all
[[ "$http_version" == 0 ]] && http_version=""

# payload OK CONTAINS_FOUND: the measurements as JSON.
payload() {
  json_object \
    url str "$url" method str "$method" \
    status_code int? "$http_code" ok bool "$1" expected_status str "$expected" \
    latency_ms num "$latency_ms" dns_ms num "$dns_ms" connect_ms num "$connect_ms" \
    tls_ms num? "$tls_ms" ttfb_ms num "$ttfb_ms" \
    size_bytes int "$size_bytes" final_url str "$final_url" redirect_count int "$redirects" \
    remote_ip str? "$remote_ip" http_version str? "$http_version" content_type str? "$content_type" \
    contains_found bool? "$2"
}

# -- Unreachable: DNS failure, refused, timeout, TLS error... ----------------------
if ((curl_rc != 0)); then
  # curl says e.g. "curl: (7) Failed to connect to ... : Couldn't connect to server".
  error="exit code $curl_rc"
  while IFS= read -r line; do
    line=${line#curl: }
    [[ -n "$line" ]] || continue
    log "curl: $line"
    [[ "$line" =~ ^\(([0-9]+)\)\ (.*)$ ]] && error="${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}"
  done <"$workdir/curl.err"
  case "$curl_rc" in
    3) fail_client "curl cannot use the URL $url: curl error $error" ;; # URL malformed: retrying cannot help
    28) error="$error (timeout_seconds: $timeout_seconds)" ;;
  esac
  fail_server "request to $url failed: curl error $error" "$(payload false "")"
fi

log "HTTP $http_code from ${remote_ip:-?} in ${latency_ms} ms (dns ${dns_ms}, connect ${connect_ms}, tls ${tls_ms:-n/a}, first byte ${ttfb_ms}), ${size_bytes} bytes, ${redirects} redirect(s)"
[[ "$final_url" != "$url" ]] && log "final URL: $final_url"

# -- The status -----------------------------------------------------------------------
# Is CODE in the list? Every item is "NNN" or "NNN-NNN", validated above, so
# the arithmetic only ever sees digits (10# keeps "0xx" from reading as octal).
status_expected() {
  local code=$1 item lo hi
  local -a items
  IFS=, read -r -a items <<<"$expected"
  for item in "${items[@]}"; do
    lo=${item%-*}
    hi=${item#*-}
    if ((10#$code >= 10#$lo && 10#$code <= 10#$hi)); then return 0; fi
  done
  return 1
}
if [[ -z "$http_code" ]] || ! status_expected "$http_code"; then
  shown_expected=${expected//,/ or }
  fail_server "expected $shown_expected, got ${http_code:-no HTTP status}" "$(payload false "")"
fi

# -- The body -------------------------------------------------------------------------
contains_found=""
if [[ "$check_body" == true ]]; then
  if python3 -c 'import sys; sys.exit(0 if open(sys.argv[2], "rb").read() in open(sys.argv[1], "rb").read() else 1)' \
    "$body_file" "$needle_file"; then
    contains_found=true
    log "body contains $contains_shown"
  else
    fail_server "the body of $final_url does not contain $contains_shown" "$(payload false false)"
  fi
fi

th_ok "$(payload true "$contains_found")" --reason "ok: HTTP $http_code in $latency_ms ms"
