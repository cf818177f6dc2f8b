#!/usr/bin/env python3
"""fraud-score.py: a taskhost action plugin, written in Python (standard library only).

Scores the fraud risk of one card payment from what the merchant knows about it
(amount, countries, e-mail, account age, velocity, device) and turns the score
into a decision: approve, review (a human looks at it) or block. It is the
payments anti-fraud example: a workflow calls it before capturing a payment and
branches on `payload.decision`.

The scoring is a transparent rule engine, not a model: every rule that fires
adds a weight to the score and is returned with an explanation, so a reviewer
can see *why* a payment was held. The rules, their weights and their reasons
are listed in RULES below; tune them to your own traffic.

-------------------------------------------------------------------------------
The action plugin protocol (v1), in five lines
  * `fraud-score.py schema` prints ONE JSON object describing the plugin (name,
    description, the JSON Schema of its inputs and of its result) and exits 0.
  * Run with no argument, it reads ONE JSON document on stdin:
      {"meta": {"protocol": "v1", "caller": "taskhost", "taskName": ..., "runId": ...,
                "attempt": ...}, "data": { ...the inputs... }}
  * Any line it prints is a log line; this plugin logs to stderr, one line per
    rule evaluated, so the run's log reads as an audit trail.
  * Its LAST stdout line is the result: {"status": 1, "reason": "ok", "payload": {...}}.
    status 1 is success; anything else is a failure, retried by the host unless
    "state" is "CLIENT_ERROR" (bad input: retrying cannot help) or "FATAL_ERROR".
  * It exits 0 even when it reports a failure: a non-zero exit code is itself a
    failure (SERVER_ERROR) that hides the reason and the state.
The protocol's plumbing (reading the request, the log, the result line, the exit
code) is done by taskhost_plugin.py, the helper vendored next to this file
(`taskhost plugin helper --lang python` prints it); the rest is the plugin's own.

A "block" decision is a successful run (status 1): the plugin did its job, and
the decision is data for the next step. (A plugin may also set a custom step
state with status 1, e.g. "state": "BLOCKED", if a workflow prefers to branch on
states; this one keeps to the payload.)

The plugin is deterministic and has no side effect: the same input always gives
the same score, so it is declared idempotent and safe to retry.

Try it by hand:
  ./fraud-score.py schema | python3 -m json.tool
  echo '{"meta":{"protocol":"v1","caller":"taskhost","taskName":"fraud-score"},
         "data":{"amount":2500,"currency":"EUR","card_country":"FR","ip_country":"NG",
                 "email":"x@mailinator.com","attempts_last_hour":6}}' | ./fraud-score.py
"""

import json
import math
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__/ next to the plugin, in tasks/
from taskhost_plugin import describe, fail, log, ok, read_request  # noqa: E402 (the helper next to this file)

PLUGIN_NAME = "fraud-score"

DEFAULT_THRESHOLDS = {"review": 40, "block": 70}

# ---------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------

# What counts as a "high" amount, per currency: rough equivalents of USD 1,000
# (rounded, not live exchange rates). Amounts are in major units (euros, not
# cents). A currency that is not listed is still accepted: the amount rules are
# skipped and a small "unlisted currency" weight is added instead.
HIGH_AMOUNT = {
    "USD": 1000, "EUR": 900, "GBP": 800, "CHF": 900, "CAD": 1400, "AUD": 1500,
    "NZD": 1700, "JPY": 150000, "CNY": 7000, "HKD": 8000, "SGD": 1300, "KRW": 1300000,
    "INR": 85000, "BRL": 5500, "MXN": 18000, "ZAR": 18000, "SEK": 10000, "NOK": 10000,
    "DKK": 7000, "PLN": 4000, "CZK": 23000, "HUF": 360000, "RON": 4500, "TRY": 35000,
    "AED": 3700, "SAR": 3700, "ILS": 3700, "THB": 35000, "MYR": 4700, "PHP": 57000,
    "IDR": 16000000,
}

# Throw-away mailbox providers (a sample: real deployments load a maintained
# list). Subdomains count too: "x@eu.mailinator.com" matches "mailinator.com".
DISPOSABLE_EMAIL_DOMAINS = frozenset({
    "10minutemail.com", "burnermail.io", "discard.email", "dispostable.com",
    "emailondeck.com", "fakeinbox.com", "getnada.com", "guerrillamail.com",
    "guerrillamail.net", "maildrop.cc", "mailinator.com", "mailnesia.com",
    "mintemail.com", "mohmal.com", "mytemp.email", "sharklasers.com",
    "spamgourmet.com", "temp-mail.org", "tempmail.com", "tempmailo.com",
    "throwawaymail.com", "trashmail.com", "yopmail.com", "yopmail.net",
})

# Deliberately absent: lists of "high-risk countries". They mostly encode bias
# and age badly; mismatches between the countries of one payment say more.

# ---------------------------------------------------------------------------
# The self-description (`fraud-score.py schema`)
# ---------------------------------------------------------------------------

COUNTRY = {"type": "string", "pattern": "^[A-Z]{2}$"}

DESCRIPTION = {
    "name": PLUGIN_NAME,
    "title": "Score a payment's fraud risk",
    "description": (
        "Scores the fraud risk of a card payment from 0 to 100 with transparent, weighted rules "
        "(high amount for the currency, country mismatches, disposable e-mail, velocity, new account, "
        "new device...) and decides approve, review or block. Every rule that fired is returned with "
        "its weight and an explanation. Missing optional inputs skip the rules that need them."
    ),
    "category": "payments",
    "tags": ["payments", "fraud", "risk", "scoring", "anti-fraud", "rules"],
    "expensive": False,
    "timeout": 10,
    "idempotent": True,
    "inputs": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": ["amount", "currency"],
        "properties": {
            "amount": {
                "type": "number", "exclusiveMinimum": 0, "maximum": 1e12,
                "description": "Payment amount in major units of the currency (12.50 means 12 euros 50).",
                "examples": [49.9, 2500],
            },
            "currency": {
                "type": "string", "pattern": "^[A-Z]{3}$",
                "description": "ISO 4217 currency code, upper case. The high-amount rule knows "
                               + ", ".join(sorted(HIGH_AMOUNT)) + ".",
                "examples": ["EUR", "USD"],
            },
            "card_country": dict(COUNTRY, description="ISO 3166-1 alpha-2 country of the card issuer (from the BIN)."),
            "ip_country": dict(COUNTRY, description="ISO 3166-1 alpha-2 country of the buyer's IP address (geolocation)."),
            "billing_country": dict(COUNTRY, description="ISO 3166-1 alpha-2 country of the billing address."),
            "email": {
                "type": "string", "format": "email", "maxLength": 254,
                "description": "The buyer's e-mail address.",
            },
            "customer_age_days": {
                "type": "integer", "minimum": 0,
                "description": "Days since the customer account was created (0: created today; omit for guest checkout).",
            },
            "attempts_last_hour": {
                "type": "integer", "minimum": 0,
                "description": "Payment attempts by this customer or card in the last hour, this one included.",
            },
            "is_new_device": {
                "type": "boolean",
                "description": "True when the device fingerprint was never seen for this customer.",
            },
            "shipping_matches_billing": {
                "type": "boolean",
                "description": "False when goods ship to an address other than the billing address.",
            },
            "thresholds": {
                "type": "object",
                "additionalProperties": False,
                "description": "Decision cut-offs on the 0-100 score: score >= block blocks, score >= review "
                               "holds for review, below approves. review must be lower than block.",
                "properties": {
                    "review": {"type": "number", "minimum": 0, "maximum": 100, "default": DEFAULT_THRESHOLDS["review"]},
                    "block": {"type": "number", "minimum": 0, "maximum": 100, "default": DEFAULT_THRESHOLDS["block"]},
                },
                "default": DEFAULT_THRESHOLDS,
            },
        },
    },
    "outputs": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "description": "The result envelope. On success (status 1) the payload holds the score and the decision.",
        "type": "object",
        "required": ["status", "reason"],
        "properties": {
            "status": {"type": "integer"},
            "reason": {"type": "string"},
            "state": {"type": "string"},
            "metadata": {"type": "object"},
            "payload": {},
        },
        "if": {"properties": {"status": {"const": 1}}},
        "then": {
            "required": ["payload"],
            "properties": {
                "payload": {
                    "type": "object",
                    "required": ["score", "decision", "thresholds", "rules", "skipped"],
                    "properties": {
                        "score": {"type": "integer", "minimum": 0, "maximum": 100,
                                  "description": "Sum of the weights of the rules that fired, capped at 100."},
                        "decision": {"type": "string", "enum": ["approve", "review", "block"]},
                        "thresholds": {
                            "type": "object", "required": ["review", "block"],
                            "properties": {"review": {"type": "number"}, "block": {"type": "number"}},
                        },
                        "rules": {
                            "type": "array",
                            "description": "The rules that fired, heaviest first.",
                            "items": {
                                "type": "object", "required": ["rule", "weight", "explanation"],
                                "properties": {
                                    "rule": {"type": "string"},
                                    "weight": {"type": "integer", "minimum": 1},
                                    "explanation": {"type": "string"},
                                },
                            },
                        },
                        "skipped": {
                            "type": "array",
                            "description": "Rules that could not be evaluated for lack of data.",
                            "items": {
                                "type": "object", "required": ["rule", "why"],
                                "properties": {"rule": {"type": "string"}, "why": {"type": "string"}},
                            },
                        },
                        "raw_score": {"type": "integer", "description": "The sum before the cap at 100."},
                    },
                },
            },
        },
    },
}


class InvalidInput(Exception):
    """Bad data: reported as CLIENT_ERROR, which the host does not retry."""


# ---------------------------------------------------------------------------
# Input validation. The host validates `data` against the inputs schema before
# spawning, but the plugin may be run by hand or by another host: it checks
# again, with messages a person can act on.
# ---------------------------------------------------------------------------

EMAIL = re.compile(r"^[^@\s]{1,64}@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$")


def is_number(value):
    # bool is a subclass of int in Python: true/false must not pass as numbers.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def as_count(data, key):
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{key} must be an integer >= 0, got {json.dumps(value)}")
    return value


def as_bool(data, key):
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false, got {json.dumps(value)}")
    return value


def as_country(data, key):
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value)):
        raise InvalidInput(f"{key} must be an ISO 3166-1 alpha-2 code in upper case (e.g. FR), got {json.dumps(value)}")
    return value


def validate(data):
    """Returns the transaction as a dict of clean values (None where not given)."""
    if not isinstance(data, dict):
        raise InvalidInput("data must be a JSON object")
    unknown = sorted(set(data) - set(DESCRIPTION["inputs"]["properties"]))
    if unknown:
        raise InvalidInput("unknown input(s): " + ", ".join(unknown))

    amount = data.get("amount")
    if amount is None:
        raise InvalidInput("amount is required")
    if not is_number(amount) or amount <= 0 or amount > 1e12:
        raise InvalidInput(f"amount must be a number > 0 (in major units), got {json.dumps(amount)}")

    currency = data.get("currency")
    if currency is None:
        raise InvalidInput("currency is required")
    if not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
        raise InvalidInput(f"currency must be an ISO 4217 code in upper case (e.g. EUR), got {json.dumps(currency)}")

    email = data.get("email")
    if email is not None and not (isinstance(email, str) and len(email) <= 254 and EMAIL.match(email)):
        raise InvalidInput(f"email {json.dumps(email)} is not a valid e-mail address")

    thresholds = dict(DEFAULT_THRESHOLDS)
    given = data.get("thresholds")
    if given is not None:
        if not isinstance(given, dict) or set(given) - {"review", "block"}:
            raise InvalidInput('thresholds must be an object {"review": number, "block": number}')
        for key, value in given.items():
            if not is_number(value) or not 0 <= value <= 100:
                raise InvalidInput(f"thresholds.{key} must be a number from 0 to 100, got {json.dumps(value)}")
            thresholds[key] = value
    if thresholds["review"] >= thresholds["block"]:
        raise InvalidInput(f"thresholds.review ({thresholds['review']}) must be lower than thresholds.block ({thresholds['block']})")

    return {
        "amount": amount,
        "currency": currency,
        "card_country": as_country(data, "card_country"),
        "ip_country": as_country(data, "ip_country"),
        "billing_country": as_country(data, "billing_country"),
        "email": email.lower() if email else None,
        "customer_age_days": as_count(data, "customer_age_days"),
        "attempts_last_hour": as_count(data, "attempts_last_hour"),
        "is_new_device": as_bool(data, "is_new_device"),
        "shipping_matches_billing": as_bool(data, "shipping_matches_billing"),
        "thresholds": thresholds,
    }


# ---------------------------------------------------------------------------
# The rules.
#
# A rule is a function of the transaction that returns (weight, explanation):
# weight 0 means it did not fire (the explanation is still logged). It raises
# Skip when the data it needs was not given. Weights add up to the score.
#
#   rule                        fires when                                  weight
#   amount_high                 amount >= the currency's high threshold      15
#                               >= 3x the threshold                          25
#                               >= 10x the threshold                         35
#   currency_unlisted           no high threshold known for the currency      5
#   card_testing                tiny amount (<= 0.2% of the threshold) with
#                               3+ attempts in the hour: probing stolen cards 20
#   ip_card_country_mismatch    the IP is not in the card's country           15
#   billing_card_country_mismatch  billing country != card country           10
#   shipping_differs            goods ship away from the billing address      10
#   disposable_email            throw-away mailbox domain                     20
#   email_many_digits           5+ digits in the local part (generated
#                               addresses such as jdoe83920417@...)            5
#   velocity                    attempts in the last hour: 3-4 / 5-9 / 10+  10 / 20 / 35
#   new_account                 account age: < 1 day / < 7 / < 30 days      15 / 10 / 5
#   new_device                  device never seen for this customer           10
#   new_device_abroad           new device AND IP outside the billing
#                               country: the account-takeover pattern         10
#
# With the default cut-offs (review 40, block 70), no single rule reaches review
# on its own (the heaviest weighs 35): it takes converging signals.
# ---------------------------------------------------------------------------

class Skip(Exception):
    """The rule needs data that was not given."""


RULES = []


def rule(rule_id):
    def register(function):
        RULES.append((rule_id, function))
        return function
    return register


def need(tx, *keys):
    missing = [k for k in keys if tx[k] is None]
    if missing:
        raise Skip(", ".join(missing) + " not given")
    return [tx[k] for k in keys]


def money(amount, currency):
    return f"{amount:,.2f} {currency}"


@rule("amount_high")
def amount_high(tx):
    threshold = HIGH_AMOUNT.get(tx["currency"])
    if threshold is None:
        raise Skip(f"no high-amount threshold for {tx['currency']}")
    ratio = tx["amount"] / threshold
    for factor, weight in ((10, 35), (3, 25), (1, 15)):
        if ratio >= factor:
            return weight, (f"amount {money(tx['amount'], tx['currency'])} is {ratio:.1f}x the high-amount "
                            f"threshold of {money(threshold, tx['currency'])}")
    return 0, f"amount {money(tx['amount'], tx['currency'])} is below {money(threshold, tx['currency'])}"


@rule("currency_unlisted")
def currency_unlisted(tx):
    if tx["currency"] in HIGH_AMOUNT:
        return 0, f"{tx['currency']} has a known high-amount threshold"
    return 5, f"currency {tx['currency']} has no high-amount threshold here: the amount could not be judged"


@rule("card_testing")
def card_testing(tx):
    threshold = HIGH_AMOUNT.get(tx["currency"])
    if threshold is None:
        raise Skip(f"no reference amount for {tx['currency']}")
    (attempts,) = need(tx, "attempts_last_hour")
    tiny = tx["amount"] <= threshold * 0.002
    if tiny and attempts >= 3:
        return 20, (f"tiny amount {money(tx['amount'], tx['currency'])} with {attempts} attempts in the last hour: "
                    "the pattern of testing stolen card numbers")
    return 0, "not a tiny repeated amount"


@rule("ip_card_country_mismatch")
def ip_card_country_mismatch(tx):
    ip, card = need(tx, "ip_country", "card_country")
    if ip != card:
        return 15, f"buyer's IP is in {ip} but the card was issued in {card}"
    return 0, f"IP and card both in {ip}"


@rule("billing_card_country_mismatch")
def billing_card_country_mismatch(tx):
    billing, card = need(tx, "billing_country", "card_country")
    if billing != card:
        return 10, f"billing address in {billing} but the card was issued in {card}"
    return 0, f"billing address and card both in {card}"


@rule("shipping_differs")
def shipping_differs(tx):
    (matches,) = need(tx, "shipping_matches_billing")
    if not matches:
        return 10, "goods ship to an address other than the billing address"
    return 0, "ships to the billing address"


@rule("disposable_email")
def disposable_email(tx):
    (email,) = need(tx, "email")
    domain = email.rsplit("@", 1)[1]
    labels = domain.split(".")
    # The domain itself or any parent: eu.mailinator.com -> mailinator.com.
    candidates = {".".join(labels[i:]) for i in range(len(labels) - 1)}
    hit = candidates & DISPOSABLE_EMAIL_DOMAINS
    if hit:
        return 20, f"e-mail domain {domain} is a disposable mailbox provider"
    return 0, f"e-mail domain {domain} is not a known disposable provider"


@rule("email_many_digits")
def email_many_digits(tx):
    (email,) = need(tx, "email")
    digits = sum(c.isdigit() for c in email.rsplit("@", 1)[0])
    if digits >= 5:
        return 5, f"e-mail local part holds {digits} digits, typical of generated addresses"
    return 0, f"{digits} digit(s) in the e-mail local part"


@rule("velocity")
def velocity(tx):
    (attempts,) = need(tx, "attempts_last_hour")
    for minimum, weight in ((10, 35), (5, 20), (3, 10)):
        if attempts >= minimum:
            return weight, f"{attempts} payment attempts in the last hour (>= {minimum})"
    return 0, f"{attempts} attempt(s) in the last hour"


@rule("new_account")
def new_account(tx):
    (age,) = need(tx, "customer_age_days")
    for below, weight in ((1, 15), (7, 10), (30, 5)):
        if age < below:
            return weight, f"customer account is {age} day(s) old (< {below})"
    return 0, f"customer account is {age} days old"


@rule("new_device")
def new_device(tx):
    (is_new,) = need(tx, "is_new_device")
    if is_new:
        return 10, "first payment from this device for this customer"
    return 0, "known device"


@rule("new_device_abroad")
def new_device_abroad(tx):
    is_new, ip, billing = need(tx, "is_new_device", "ip_country", "billing_country")
    if is_new and ip != billing:
        return 10, f"new device connecting from {ip}, outside the billing country {billing}: possible account takeover"
    return 0, "not a new device abroad"


def score(tx):
    fired, skipped = [], []
    for rule_id, function in RULES:
        try:
            weight, explanation = function(tx)
        except Skip as why:
            skipped.append({"rule": rule_id, "why": str(why)})
            log(f"rule {rule_id}: skipped ({why})")
            continue
        log(f"rule {rule_id}: {explanation} -> +{weight}")
        if weight > 0:
            fired.append({"rule": rule_id, "weight": weight, "explanation": explanation})

    raw = sum(r["weight"] for r in fired)
    total = min(100, raw)
    thresholds = tx["thresholds"]
    if total >= thresholds["block"]:
        decision = "block"
    elif total >= thresholds["review"]:
        decision = "review"
    else:
        decision = "approve"
    fired.sort(key=lambda r: -r["weight"])
    return {
        "score": total,
        "decision": decision,
        "thresholds": thresholds,
        "rules": fired,
        "skipped": skipped,
        "raw_score": raw,
    }


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def run():
    # The helper reads stdin once and refuses what is not a JSON object (NaN and
    # Infinity included: Python's parser accepts them, JSON does not).
    envelope = read_request()
    meta = envelope.get("meta") if isinstance(envelope.get("meta"), dict) else {}
    if meta.get("protocol", "v1") != "v1":
        raise InvalidInput(f"unsupported protocol {json.dumps(meta.get('protocol'))}: this plugin speaks v1")
    log(f"task {meta.get('taskName')!r}, run {meta.get('runId')!r}, attempt {meta.get('attempt')!r}")

    tx = validate(envelope.get("data"))
    log(f"scoring a payment of {money(tx['amount'], tx['currency'])} "
        f"with thresholds review >= {tx['thresholds']['review']}, block >= {tx['thresholds']['block']}")
    result = score(tx)
    log(f"score {result['score']}/100 -> {result['decision']} "
        f"({len(result['rules'])} rule(s) fired, {len(result['skipped'])} skipped)")
    ok(result, reason=f"{result['decision']} (score {result['score']})",
       metadata={"engine": "fraud-score rules v1", "rules_evaluated": len(RULES) - len(result["skipped"])})


def main(argv):
    describe(DESCRIPTION)  # `fraud-score.py schema`: prints DESCRIPTION and exits 0
    if len(argv) > 1:
        print(f"usage: {argv[0]} [schema]  (with no argument: reads a protocol v1 JSON document on stdin)",
              file=sys.stderr)
        return 2
    try:
        run()
    except InvalidInput as error:
        log(f"invalid input: {error}")
        fail(str(error), state="CLIENT_ERROR")
    except Exception as error:  # a bug here: report it rather than die without a result line
        log(f"internal error: {type(error).__name__}: {error}")
        fail(f"internal error: {type(error).__name__}: {error}", state="FATAL_ERROR")
    # ok() and fail() exit 0 once the result line is out: a non-zero exit would override it.


if __name__ == "__main__":
    sys.exit(main(sys.argv))
