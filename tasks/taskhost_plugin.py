"""taskhost_plugin: helpers for taskhost action plugins written in Python (protocol v1).

Vendor this one file next to your plugin, and import it:

    taskhost plugin helper --lang python > taskhost_plugin.py     # keep it NOT executable

    import sys
    sys.dont_write_bytecode = True  # no __pycache__/ next to the plugin
    from taskhost_plugin import describe, fail, log, ok, read_request

taskhost runs a plugin with its own directory as working directory and a minimal
environment (PATH, HOME, LANG, TASKHOST_*); Python finds this file next to the plugin,
which is all it needs. `taskhost serve` registers every executable file of tasks/ as a
plugin, so this file stays non-executable. Standard library only, Python >= 3.8.

    describe(DESCRIPTION)    called with `schema`: prints DESCRIPTION as JSON and exits 0;
                             otherwise returns
    read_request()           the request on stdin, {"meta": {...}, "data": {...}}, parsed
                             once (NaN and Infinity refused: they are not JSON)
    log(*values)             prints a log line, on stderr
    ok(payload, reason="ok", metadata=None, state=None)
                             prints the success result (status 1) and exits 0; `state`
                             is a custom state (an upper-case word), or None for DONE
    fail(reason, state="CLIENT_ERROR", payload=None, metadata=None)
                             prints a failure result (status 0) and exits 0. state:
                             CLIENT_ERROR (bad input, not retried), SERVER_ERROR
                             (retried) or FATAL_ERROR (not retried)

ok() and fail() end the plugin (SystemExit): the result is the last line of stdout, and
the exit code is 0 (a non-zero exit code fails a run whatever its result says).
"""

import json
import sys

__all__ = ["FAILURE_STATES", "describe", "fail", "log", "ok", "read_request"]

FAILURE_STATES = ("CLIENT_ERROR", "SERVER_ERROR", "FATAL_ERROR")

_request = None


def log(*values, sep=" "):
    """Prints a log line on stderr (stdout is kept for the result line)."""
    print(*values, sep=sep, file=sys.stderr, flush=True)


def describe(description):
    """Answers `PLUGIN schema`: prints the self-description as JSON and exits 0."""
    if sys.argv[1:2] != ["schema"]:
        return
    try:
        text = json.dumps(description, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        sys.exit("taskhost_plugin: the description cannot be encoded as JSON: %s" % error)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    sys.exit(0)


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def read_request():
    """The request on stdin, {"meta": {...}, "data": {...}}: read and parsed once."""
    global _request
    if _request is None:
        if sys.stdin.isatty():
            log('taskhost_plugin: reading the request on stdin ({"meta": {...}, "data": {...}}, then Ctrl-D)')
        try:
            value = json.loads(sys.stdin.read(), parse_constant=_reject_constant)
        except ValueError as error:
            fail("stdin is not a protocol v1 request: %s" % error)
        if not isinstance(value, dict):
            fail('stdin is not a protocol v1 request (a JSON object {"meta": ..., "data": ...})')
        _request = value
    return _request


def _emit(result):
    """Prints THE result line and exits 0; a result JSON cannot encode becomes a failure."""
    try:
        line = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as error:
        line = json.dumps({
            "status": 0,
            "reason": "the result cannot be encoded as JSON: %s" % error,
            "state": "SERVER_ERROR",
            "payload": None,
        })
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    sys.exit(0)


def ok(payload=None, reason="ok", metadata=None, state=None):
    """Prints the success result (status 1) and exits 0."""
    result = {"status": 1, "reason": reason}
    if state:
        result["state"] = state
    if metadata is not None:
        result["metadata"] = metadata
    result["payload"] = payload
    _emit(result)


def fail(reason, state="CLIENT_ERROR", payload=None, metadata=None):
    """Prints a failure result (status 0) and exits 0."""
    if state not in FAILURE_STATES:
        log("taskhost_plugin: fail(state=%r): use CLIENT_ERROR, SERVER_ERROR or FATAL_ERROR; using SERVER_ERROR"
            % (state,))
        state = "SERVER_ERROR"
    result = {"status": 0, "reason": str(reason), "state": state}
    if metadata is not None:
        result["metadata"] = metadata
    result["payload"] = payload
    _emit(result)
