#!/usr/bin/env bash
# =============================================================================
# generate-csr.sh: a taskhost action plugin, written in bash.
#
# Generates a fresh private key (EC or RSA) and a PKCS#10 certificate signing
# request (CSR) for it with openssl: the first step of a certificate-provisioning
# workflow (generate the CSR, send it to a CA, wait for approval, install the
# certificate), the classic µTask example.
#
# -----------------------------------------------------------------------------
# The action plugin protocol (v1), in five lines
#   * `generate-csr.sh schema` prints ONE JSON object describing the plugin
#     (name, description, the JSON Schema of its inputs, ...) and exits 0.
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
# The host runs it with cwd = this directory and a minimal environment (PATH,
# HOME, LANG, TASKHOST_*), never the server's secrets.
#
# -----------------------------------------------------------------------------
# Habits worth copying into any bash plugin
#   * User data never becomes shell code: no eval, no `sh -c "...$value..."`.
#     Values are validated first, then passed to commands as separate
#     arguments (bash arrays, always double-quoted).
#   * JSON is read and written by python3 (it is everywhere; jq often is not),
#     or by taskhost.sh (jq when present, else python3),
#     with user values passed on stdin or as argv, never pasted into a program.
#   * Secrets never go on a command line (argv is world-readable in /proc):
#     key material is only written to a private `mktemp -d` directory (umask
#     077) that a trap removes on exit, and is read from there into the result.
#
# Requirements: bash >= 4, python3, OpenSSL >= 1.1.1 (for `req -addext`).
#
# Try it by hand:
#   ./generate-csr.sh schema | python3 -m json.tool
#   echo '{"meta":{"protocol":"v1","caller":"taskhost","taskName":"generate-csr"},
#          "data":{"common_name":"www.example.com","subject_alt_names":["example.com"]}}' \
#     | ./generate-csr.sh
# =============================================================================

set -euo pipefail
export LC_ALL=C # predictable messages and byte-wise string operations
umask 077       # every file we create is private to us

readonly PLUGIN_NAME=generate-csr

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
# Self-description: `generate-csr.sh schema` prints it and exits 0 (th_schema).
# The heredoc delimiter is QUOTED ('JSON') so that bash expands nothing inside:
# an unquoted heredoc would turn "$schema" into "" (and "$(...)" into a command).
# -----------------------------------------------------------------------------
th_schema <<'JSON'
{
  "name": "generate-csr",
  "title": "Generate a private key and a CSR",
  "description": "Generates a new private key (EC by default, or RSA) and a PKCS#10 certificate signing request for a host name and its subject alternative names, ready to send to a certificate authority. The common name is always included in the subject alternative names, as CAs require.",
  "category": "certificates",
  "tags": ["tls", "x509", "openssl", "csr", "pki", "provisioning"],
  "dangerous": "returns the new PRIVATE KEY in its payload: the step output (stored by taskhost, visible to whoever can read the run) holds a secret. Restrict access to the task or move the key to a vault in the next step.",
  "expensive": false,
  "timeout": 60,
  "idempotent": false,
  "inputs": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": false,
    "required": ["common_name"],
    "properties": {
      "common_name": {
        "type": "string",
        "title": "Common name",
        "description": "The host name the certificate is for (subject CN). Letters, digits and hyphens in dot-separated labels; a leading '*.' asks for a wildcard certificate. At most 64 characters (X.509 upper bound). Lower-cased.",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^(\\*\\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
        "examples": ["www.example.com", "*.internal.example.com"]
      },
      "subject_alt_names": {
        "type": "array",
        "title": "Subject alternative names",
        "description": "More DNS names the certificate must cover. The common name is added first if missing; duplicates are dropped (case-insensitively).",
        "default": [],
        "maxItems": 100,
        "items": {
          "type": "string",
          "minLength": 1,
          "maxLength": 253,
          "pattern": "^(\\*\\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
        },
        "examples": [["example.com", "api.example.com"]]
      },
      "organization": {
        "type": "string",
        "title": "Organization",
        "description": "Subject O (legal name of the organization). Any printable text, UTF-8 allowed, no control characters.",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[^\\u0000-\\u001f\\u007f]+$"
      },
      "country": {
        "type": "string",
        "title": "Country",
        "description": "Subject C: ISO 3166-1 alpha-2 country code, upper case.",
        "pattern": "^[A-Z]{2}$",
        "examples": ["FR", "US"]
      },
      "key_type": {
        "type": "string",
        "title": "Key type",
        "description": "Key algorithm: 'ec' (ECDSA, small and fast, the default) or 'rsa' (widest compatibility).",
        "enum": ["ec", "rsa"],
        "default": "ec"
      },
      "key_bits": {
        "type": "integer",
        "title": "RSA key size",
        "description": "RSA modulus size in bits. Only with key_type 'rsa' (default 2048).",
        "enum": [2048, 3072, 4096],
        "default": 2048
      },
      "curve": {
        "type": "string",
        "title": "EC curve",
        "description": "Named curve. Only with key_type 'ec' (default prime256v1, i.e. NIST P-256).",
        "enum": ["prime256v1", "secp384r1"],
        "default": "prime256v1"
      }
    }
  },
  "outputs": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "description": "The result envelope. On success (status 1) the payload holds the CSR and the key.",
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
          "required": ["csr", "private_key", "key_type", "subject", "subject_alt_names", "public_key_sha256"],
          "properties": {
            "csr": { "type": "string", "description": "The CSR, PEM (-----BEGIN CERTIFICATE REQUEST-----).", "pattern": "^-----BEGIN CERTIFICATE REQUEST-----" },
            "private_key": { "type": "string", "description": "The unencrypted private key, PKCS#8 PEM (-----BEGIN PRIVATE KEY-----). A secret.", "pattern": "^-----BEGIN PRIVATE KEY-----" },
            "key_type": { "type": "string", "enum": ["ec", "rsa"] },
            "key_bits": { "type": "integer", "description": "RSA only." },
            "curve": { "type": "string", "description": "EC only." },
            "subject": { "type": "string", "description": "The subject as an RFC 2253 string, e.g. CN=www.example.com,O=Example,C=FR." },
            "subject_alt_names": { "type": "array", "items": { "type": "string" }, "description": "The DNS names in the CSR, common name first." },
            "public_key_sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the public key (DER SubjectPublicKeyInfo), hex: identifies the key pair." },
            "public_key_pin_sha256": { "type": "string", "description": "The same hash in base64 (the 'pin-sha256' form used for key pinning)." }
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
# TYPE: str | int | bool (true/false) | lines (newline-separated list -> array of
# strings) | file (the contents of the file named by VALUE, as a string; this is
# how secrets get into JSON without ever appearing on a command line).
PY_JSON_OBJECT=$(cat <<'PY'
import json, sys
args, out = sys.argv[1:], {}
for i in range(0, len(args), 3):
    key, kind, value = args[i:i + 3]
    if kind == "str": out[key] = value
    elif kind == "int": out[key] = int(value)
    elif kind == "bool": out[key] = value == "true"
    elif kind == "lines": out[key] = [v for v in value.split("\n") if v]
    elif kind == "file":
        with open(value, encoding="utf-8") as f: out[key] = f.read()
    else: raise SystemExit(f"json_object: unknown type {kind!r}")
print(json.dumps(out))
PY
)
json_object() { python3 -c "$PY_JSON_OBJECT" "$@"; }

# Failures: th_fail prints the result line, then exits 0 (see the header).
fail_client() { log "invalid input: $1"; th_fail "$1" CLIENT_ERROR; } # bad input: never retried
fail_fatal() { log "fatal: $1"; th_fail "$1" FATAL_ERROR; }          # broken host: never retried
fail_server() { log "error: $1"; th_fail "$1" SERVER_ERROR; }        # retried

# -----------------------------------------------------------------------------
# Input: read the whole envelope, then validate it. The host already checked
# `data` against the inputs schema, but a plugin can be run by hand or by
# another host, so it checks again (and enforces what a schema cannot say
# neatly, such as "key_bits only goes with rsa").
#
# The validator prints NUL-separated fields: "ok" and the normalized values, or
# "error" and a reason. NUL cannot occur inside the values (control characters
# are refused), so the fields split back exactly, whatever they contain.
# -----------------------------------------------------------------------------
PY_PARSE_INPUT=$(cat <<'PY'
import json, re, sys

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(r"^(?:\*\.)?(?:%s\.)*%s$" % (LABEL, LABEL))
KNOWN = {"common_name", "subject_alt_names", "organization", "country", "key_type", "key_bits", "curve"}

def emit(*fields):
    sys.stdout.write("".join(f + "\0" for f in fields))

def refuse(reason):
    emit("error", reason)
    sys.exit(0)

def hostname(value, what, limit):
    if not isinstance(value, str) or not value:
        refuse(f"{what} must be a non-empty string")
    if len(value) > limit or not HOSTNAME.match(value):
        refuse(f"{what} {json.dumps(value)} is not a valid DNS host name (dot-separated labels of letters, "
               f"digits and hyphens, optional leading '*.', at most {limit} characters)")
    return value.lower()

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
print(f"[generate-csr] {where or 'run'}", file=sys.stderr)

data = doc.get("data")
if not isinstance(data, dict):
    refuse("data must be a JSON object")
unknown = sorted(set(data) - KNOWN)
if unknown:
    refuse("unknown input(s): " + ", ".join(unknown))
if "common_name" not in data:
    refuse("common_name is required")

cn = hostname(data["common_name"], "common_name", 64)

sans = data.get("subject_alt_names", [])
if not isinstance(sans, list):
    refuse("subject_alt_names must be an array of DNS names")
if len(sans) > 100:
    refuse("subject_alt_names holds more than 100 names")
names = [cn]
for i, san in enumerate(sans):
    name = hostname(san, f"subject_alt_names[{i}]", 253)
    if name not in names:
        names.append(name)

org = data.get("organization", "")
if "organization" in data:
    if not isinstance(org, str) or not org or len(org) > 64 or re.search(r"[\x00-\x1f\x7f]", org):
        refuse("organization must be 1 to 64 characters without control characters")

country = data.get("country", "")
if "country" in data and (not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country)):
    refuse(f"country {json.dumps(country)} must be an ISO 3166-1 alpha-2 code in upper case, e.g. FR")

key_type = data.get("key_type", "ec")
if key_type not in ("ec", "rsa"):
    refuse(f"key_type {json.dumps(key_type)} must be 'ec' or 'rsa'")

bits, curve = "", ""
if key_type == "rsa":
    if "curve" in data:
        refuse("curve only applies to key_type 'ec'")
    b = data.get("key_bits", 2048)
    if isinstance(b, float) and b.is_integer():
        b = int(b)
    if type(b) is not int or b not in (2048, 3072, 4096):
        refuse(f"key_bits {json.dumps(b)} must be 2048, 3072 or 4096")
    bits = str(b)
else:
    if "key_bits" in data:
        refuse("key_bits only applies to key_type 'rsa' (EC keys take a curve)")
    curve = data.get("curve", "prime256v1")
    if curve not in ("prime256v1", "secp384r1"):
        refuse(f"curve {json.dumps(curve)} must be 'prime256v1' or 'secp384r1'")

emit("ok", cn, "\n".join(names), org, country, key_type, bits, curve)
PY
)

input=$TH_REQUEST # ONE JSON document, read from stdin by taskhost.sh

fields=()
while IFS= read -r -d '' field; do fields+=("$field"); done < <(python3 -c "$PY_PARSE_INPUT" <<<"$input")
((${#fields[@]} > 0)) || fail_fatal "could not parse the input (python3 failed, see the log)"
[[ "${fields[0]}" == ok ]] || fail_client "${fields[1]-invalid input}"

common_name=${fields[1]}
san_lines=${fields[2]} # one DNS name a line, common name first
organization=${fields[3]}
country=${fields[4]}
key_type=${fields[5]}
key_bits=${fields[6]}
curve=${fields[7]}

command -v openssl >/dev/null 2>&1 || fail_fatal "openssl is required but was not found in PATH"

# -----------------------------------------------------------------------------
# Work area: private, and removed however we leave (normal end, failure, or the
# host's SIGTERM on timeout: the signal traps turn it into an exit so that the
# EXIT trap runs; only SIGKILL cannot be caught).
# -----------------------------------------------------------------------------
workdir=$(mktemp -d "${TMPDIR:-/tmp}/generate-csr.XXXXXXXX")
cleanup() { rm -rf -- "$workdir"; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

key_file=$workdir/key.pem
csr_file=$workdir/csr.pem
pub_file=$workdir/pub.der
err_file=$workdir/openssl.err

# run_openssl WHAT ARGS...: runs openssl quietly (RSA generation prints progress
# dots on stderr), and logs its messages only if it fails.
run_openssl() {
  local what=$1
  shift
  if ! openssl "$@" 2>"$err_file"; then
    while IFS= read -r line; do log "openssl: $line"; done <"$err_file"
    fail_server "openssl failed to $what"
  fi
}

# -- 1. The private key -------------------------------------------------------
# Each option is its own array element: nothing here is re-split or re-parsed
# by a shell.
genpkey_args=(genpkey -out "$key_file")
if [[ "$key_type" == rsa ]]; then
  genpkey_args+=(-algorithm RSA -pkeyopt "rsa_keygen_bits:$key_bits")
  log "generating an RSA $key_bits-bit key"
else
  genpkey_args+=(-algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -pkeyopt ec_param_enc:named_curve)
  log "generating an EC key on curve $curve"
fi
run_openssl "generate the private key" "${genpkey_args[@]}"

# -- 2. The CSR -----------------------------------------------------------------
# `-subj` takes "/TYPE=value/TYPE=value". In a value, '\' escapes the next
# character; '/' would start a new attribute and '+' a multi-valued RDN, so
# those three are escaped. (The host names were validated: they need none of it,
# but the organization is free text.)
dn_escape() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\//\\/}
  v=${v//+/\\+}
  printf '%s' "$v"
}
# Conventional order, most general first: C, O, then CN.
subject=""
[[ -n "$country" ]] && subject+="/C=$country"
[[ -n "$organization" ]] && subject+="/O=$(dn_escape "$organization")"
subject+="/CN=$(dn_escape "$common_name")"

# subjectAltName=DNS:a,DNS:b: safe to join, the names hold no ',' or ':'.
san_ext="subjectAltName="
while IFS= read -r name; do
  [[ -n "$name" ]] && san_ext+="DNS:$name,"
done <<<"$san_lines"
san_ext=${san_ext%,}

log "creating the CSR for $subject"
log "with $san_ext"
run_openssl "create the CSR" req -new -utf8 -sha256 -key "$key_file" -subj "$subject" -addext "$san_ext" -out "$csr_file"
run_openssl "verify the CSR signature" req -in "$csr_file" -noout -verify
log "CSR self-signature verified"

# -- 3. Facts about the result -------------------------------------------------------
subject_rfc2253=$(openssl req -in "$csr_file" -noout -subject -nameopt RFC2253,-esc_msb 2>"$err_file") ||
  fail_server "openssl could not read back the CSR subject"
subject_rfc2253=${subject_rfc2253#subject=}

# The public key hash identifies the key pair (and its certificate) without
# revealing anything: handy to match a certificate to its key later.
run_openssl "extract the public key" pkey -in "$key_file" -pubout -outform DER -out "$pub_file"
pub_sha256=$(openssl dgst -sha256 -r "$pub_file") || fail_server "openssl dgst failed"
pub_sha256=${pub_sha256%% *} # "-r" prints "<hex> *<file>"
pub_pin=$(openssl dgst -sha256 -binary "$pub_file" | openssl base64 -A) || fail_server "openssl base64 failed"
log "public key sha256: $pub_sha256"

# -- 4. The result ------------------------------------------------------------------
# The PEM files are read by python from the private directory ("file" type):
# the key never appears in argv or in an environment variable.
payload_args=(
  csr file "$csr_file"
  private_key file "$key_file"
  key_type str "$key_type"
  subject str "$subject_rfc2253"
  subject_alt_names lines "$san_lines"
  public_key_sha256 str "$pub_sha256"
  public_key_pin_sha256 str "$pub_pin"
)
if [[ "$key_type" == rsa ]]; then
  payload_args+=(key_bits int "$key_bits")
else
  payload_args+=(curve str "$curve")
fi
json_object "${payload_args[@]}" >"$workdir/payload.json" || fail_server "could not build the result payload"

log "done: CSR for $common_name ($key_type), the private key is in the payload"
# The payload holds the private key: it goes to th_ok on stdin, never in argv.
th_ok - <"$workdir/payload.json"
