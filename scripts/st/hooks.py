"""Schemathesis hooks for scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

Request shaping (before_call):
1. A fresh Idempotency-Key on every request that carries a generated one. Hypothesis reuses
   header values across cases, and the API answers the same key with a different body with 422
   (as documented), which would turn valid cases into false "rejected valid data" failures.
   Keys in cases whose headers were generated to be invalid (negative mode) are left alone.
2. Protected accounts: the identities the run logs in as (ST_PROTECTED_USER_IDS, comma separated)
   must keep their role, unit, password and activity for the whole run, or later requests and the
   object-level authorization probes would test something else. A PATCH aimed at one of them is
   redirected to a decoy account (ST_DECOY_USER_ID).
   Long polls of the change feed (`wait`) are cut to 1 s: a valid wait of up to 60 s with nothing
   new would hold each case that long.
3. Open311: `POST /open311/v2/requests.json` gets the `api_key` query parameter
   (ST_OPEN311_API_KEY, an integration client's token with `sync:write`) unless its query was
   generated invalid, so the form itself is tested rather than only the 403.

False positives dropped (filter_failure); each rule is narrow and everything else is reported:
4. ST202 "schema-valid request rejected" when the request was not schema-valid after all: one
   of its parts was generated in negative mode (the coverage phase combines a valid path with an
   invalid header and still labels the whole case positive).
5. ST202 with a 422 whose every error is one no schema can express:
   - `cursor`: pagination cursors are opaque tokens the server issued (`next_cursor`); made-up
     ones are refused;
   - code `not_found`: a well-formed id or code of something that does not exist (a leader's
     unit, a region's parent, ...);
   - BUSINESS_RULES below: relations between values and stored data.
   The same for the Open311 facade's 400 error arrays (OPEN311_RULES).
6. ST201 on the sync API's batch imports when the 200 reports the invalid items `rejected`
   (per-item validation is the documented contract: BATCH_IMPORTS).
7. ST402 on GET /api/v1/messages/{id} when the message is on the anonymous public board (every
   account reads its public projection), and ST402 when the peer can list the object itself: the
   check only looks at the first page of the peer's listing, so shared reference data on a later
   page (or pushed there by objects created meanwhile) looks private. The hook pages through the
   whole collection as the peer (ST_BASE_URL, ST_AUTH_FILE) and drops the finding only when the
   object is there.
"""

from __future__ import annotations

import json
import re
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

import schemathesis
from schemathesis.core.parameters import ParameterLocation

IDEMPOTENCY_KEY = "Idempotency-Key"
PROTECTED_USERS = {i.strip().lower() for i in os.environ.get("ST_PROTECTED_USER_IDS", "").split(",") if i.strip()}
DECOY_USER = os.environ.get("ST_DECOY_USER_ID", "").strip()
BASE_URL = os.environ.get("ST_BASE_URL", "").rstrip("/")
AUTH_FILE = os.environ.get("ST_AUTH_FILE", "")
# Every dropped failure is written here (one line each) so the filtering can be audited.
FILTER_LOG = os.environ.get("ST_FILTER_LOG", "")

# Batch imports read their items one by one: an item that violates the schema is answered with a
# per-item `rejected` result inside a 200 (a bad item never rejects the good ones), so ST201
# "schema-violating request accepted" is expected there whenever the body reports a rejection.
BATCH_IMPORTS = {"POST /api/v1/sync/messages", "POST /api/v1/sync/replies"}

# (operation, field, message fragment) of 422 answers for rules between values and stored data,
# which JSON Schema cannot state. Keep this list short; anything a schema can say (formats,
# lengths, patterns, enums, "if level is province then ...") belongs in the OpenAPI document.
BUSINESS_RULES = [
    ("POST /api/v1/regions", "code", "must share its parent's code prefix"),
    ("POST /api/v1/regions", "code", "does not match the level"),
    ("POST /api/v1/regions", "parent_code", "must lie directly in"),
    ("POST /api/v1/regions", "parent_code", "only a province has no parent"),
    ("POST /api/v1/regions", "parent_code", "a province has no parent"),
    ("PATCH /api/v1/units/{id}", "parent_id", "cannot be its own parent"),
    ("PATCH /api/v1/units/{id}", "parent_id", "would make a cycle"),
    # Staff registering a message say who it is from; citizens write as themselves.
    ("POST /api/v1/messages", "contact_name", "who the message is from"),
    ("POST /api/v1/messages", "contact_phone", "how to reach them"),
    ("POST /api/v1/messages", "contact_name", "is your account's name"),
    ("POST /api/v1/messages", "source", "staff register"),
    ("POST /api/v1/messages", "source", "citizens submit"),
    ("POST /api/v1/messages", "region_code", "must lie inside the leader's region"),
    ("POST /api/v1/messages/{id}/reject", "duplicate_of", "name the original message"),
    ("POST /api/v1/messages/{id}/reject", "duplicate_of", "only for reason `duplicate`"),
    ("POST /api/v1/messages/{id}/reject", "duplicate_of", "a message is not its own duplicate"),
    # Search needs two letters or digits; punctuation alone cannot be looked up.
    ("GET /api/v1/messages", "q", "needs at least two letters or digits"),
    ("GET /api/v1/public/messages", "q", "needs at least two letters or digits"),
    # Handling: which fields a request needs depends on who sends it, and dates relate to today.
    ("POST /api/v1/messages/{id}/instructions", "leader_id", "name the leader whose instruction you record"),
    ("POST /api/v1/messages/{id}/supervisions", "due_date", "must be today or later"),
    ("POST /api/v1/assignments/{id}/extensions", "days", "the policy allows"),
    ("POST /api/v1/extensions/{id}/approve", "days", "the policy allows"),
    ("POST /api/v1/messages/{id}/assignments", "co_unit_ids", "the lead unit cannot also co-handle"),
    ("POST /api/v1/messages/{id}/assignments", "co_unit_ids", "names a unit twice"),
    ("POST /api/v1/assignments/{id}/transfer", "unit_id", "the message is already with this unit"),
    # Handling catalogues: a date range's ends relate to each other; the defaults stay active.
    ("GET /api/v1/calendar/days", "to", "must not be before `from`"),
    ("GET /api/v1/calendar/days", "to", "may span at most three years"),
    ("PATCH /api/v1/deadline-policies/{id}", "active", "cannot be deactivated"),
    # Replies: the editorial checks read the stored draft and the province's rules.
    ("POST /api/v1/replies/{id}/submit", "body", "characters; the province requires"),
    ("POST /api/v1/replies/{id}/submit", "body", "the province does not allow"),
    ("POST /api/v1/replies/{id}/submit", "body", "must not show"),
    # Return visits: periods, today, and the finding that may reopen.
    ("POST /api/v1/return-visit-samples", "to", "must not be before `from`"),
    ("POST /api/v1/return-visit-samples", "to", "a period is at most a year"),
    ("POST /api/v1/return-visit-samples", "region_code", "no such region"),
    ("POST /api/v1/return-visits/{id}/result", "visited_on", "must not be in the future"),
    ("POST /api/v1/return-visits/{id}/result", "reopen", "only a visit that found the matter not resolved"),
    # Early warning: a spike rule watches a category or a region (or both); a rule's fields are
    # those of its stored kind.
    ("POST /api/v1/alert-rules", "category_id", "a spike rule watches a category, a region or both"),
    ("PATCH /api/v1/alert-rules/{id}", "category_id", "a spike rule watches a category, a region or both"),
    ("PATCH /api/v1/alert-rules/{id}", "region_code", "a spike rule watches a category, a region or both"),
    # The schema allows the thresholds of both kinds (spike 1–100000, repeat 2–1000).
    ("PATCH /api/v1/alert-rules/{id}", "threshold", "must be between"),
    # Weekly briefings: a period's ends relate to each other and to today; a selection names each
    # message and position once (whether a message is a candidate is `not_found`).
    ("POST /api/v1/briefings", "period_to", "must not be before `period_from`"),
    ("POST /api/v1/briefings", "period_to", "a briefing covers at most"),
    ("POST /api/v1/briefings", "period_from", "must not be in the future"),
    ("PUT /api/v1/briefings/{id}/items", "items[", "names a message twice"),
    ("PUT /api/v1/briefings/{id}/items", "items[", "uses a position twice"),
] + [
    ("PATCH /api/v1/alert-rules/{id}", field, "does not apply to")
    for field in ("keywords", "threshold", "window_hours", "baseline_days", "baseline_factor", "repeat_by", "window_days")
] + [
    # Statistics and the ledger: a period's ends relate to each other and to the bucket width;
    # region codes must exist.
    (op, field, fragment)
    for op in (
        "GET /api/v1/statistics/summary",
        "GET /api/v1/statistics/breakdown",
        "GET /api/v1/statistics/timeseries",
        "GET /api/v1/ledger",
    )
    for field, fragment in (
        ("to", "must not be before `from`"),
        ("to", "may span at most ten years"),
        ("region_code", "no such region"),
        ("unit_id", "no unit has the nil id"),
        ("interval", "buckets: choose a wider interval"),
    )
] + [
    # The token endpoint: which fields belong to which grant (one schema for both grants).
    ("POST /api/v1/auth/token", field, fragment)
    for field in ("email", "password", "client_id", "client_secret", "scope")
    for fragment in ("the password grant needs", "the client_credentials grant needs",
                     "belongs to the client_credentials grant", "belongs to the password grant")
] + [
    ("POST /api/v1/auth/token", "scope", fragment)
    for fragment in ("unknown scope", "is not granted to this client")
] + [
    # Integration clients: a name must have something besides spaces.
    (op, "name", "must be 1 to 100 characters")
    for op in ("POST /api/v1/integration-clients", "PATCH /api/v1/integration-clients/{id}")
] + [
    # Integration clients: a region scope names an existing, active region.
    (op, "region_code", fragment)
    for op in ("POST /api/v1/integration-clients", "PATCH /api/v1/integration-clients/{id}")
    for fragment in ("no region", "this region is deactivated")
] + [
    # Webhooks: the target URL's host is resolved and must be public (SSRF guard), and its form
    # is checked beyond `maxLength` (scheme, host, no credentials, no fragment).
    (op, "url", fragment)
    for op in ("POST /api/v1/webhooks", "PATCH /api/v1/webhooks/{id}")
    for fragment in ("does not resolve", "timed out", "has no address",
                     "webhook targets must be public", "credentials in the URL", "the scheme must be",
                     "not a URL", "a fragment is not sent", "has no host", "at most 2048")
] + [
    # Assessments: exactly one of `period` and `year` (OpenAPI cannot say "one of two
    # parameters"); weights may not all be 0.
    ("GET /api/v1/assessments", "period", "give exactly one of"),
    ("PUT /api/v1/assessments/weights", "reply_rate", "at least one weight must be above 0"),
] + [
    # Which placement a role needs (src/domain/role.rs check_placement).
    (op, field, fragment)
    for op in ("POST /api/v1/users", "PATCH /api/v1/users/{id}")
    for field, fragment in (
        ("role", "integration accounts are integration clients"),
        ("unit_id", "citizens belong to no unit"),
        ("scope_region_code", "citizens have no region scope"),
        ("unit_id", "this role needs a unit"),
        ("scope_region_code", "a supervisor needs the region subtree"),
        ("scope_region_code", "region scopes are for supervisors, leaders and analysts"),
        ("scope_region_code", "an analyst needs the region subtree"),
        ("scope_region_code", "a leader needs a region"),
        ("leader_id", "only accounts with role `leader` link to a leader"),
    )
]


# Rules for every operation ("*"): an attachment URL is shown to the public as a link, so its
# host must be public and it carries no credentials (src/domain/addresses.rs attachment_url: the
# schema says `format: uri`, no schema can say "not a special-purpose address"); PostgreSQL text
# cannot hold U+0000, so a NUL anywhere in a body is refused before storage (src/domain/input.rs).
BUSINESS_RULES += [
    ("*", "attachments[", "must point at a public host"),
    # The schema's pattern admits any non-blank text after https://; whether that text is a
    # host a browser accepts (IDNA, the WHATWG URL parser that the url crate implements) is no
    # regular expression's business.
    ("*", "attachments[", "must be an https:// URL"),
    ("*", "attachments[", "must not carry credentials"),
    ("*", "*", "must not contain NUL characters"),
]


# 400 answers of the Open311 facade (Open311 error arrays) for rules no schema can state:
# references to stored data, and relations between fields.
OPEN311_RULES = [
    "is not a service here",
    "is not a jurisdiction here",
    "a location is required",
    "lat and long must be sent together",
    "must not be after end_date",
    "lat must be between",
    "long must be between",
    # `description` counts its characters after trimming, and its first line becomes the title.
    "description must have at least",
    "description is required",
    "description needs a first line",
    # As in BUSINESS_RULES: NUL cannot be stored; media_url follows the attachment URL rule.
    "must not contain NUL characters",
    "must point at a public host",
    "must not carry credentials",
    # The schema's pattern cannot say which hosts the WHATWG URL parser accepts (IDNA).
    "media_url must be an https:// URL",
]
OPEN311_API_KEY = os.environ.get("ST_OPEN311_API_KEY", "").strip()
OPEN311_CREATE = ("POST", "/open311/v2/requests.json")


# --- request shaping ---------------------------------------------------------------------------


def _is_negative(case, location: ParameterLocation | None = None) -> bool:
    meta = getattr(case, "meta", None)
    if meta is None:
        return False
    if location is not None:
        return meta.is_negative_at(location)
    return any(info.mode.is_negative for info in meta.components.values())


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.headers is not None and IDEMPOTENCY_KEY in case.headers and not _is_negative(case, ParameterLocation.HEADER):
        case.headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    if (
        DECOY_USER
        and case.method.upper() == "PATCH"
        and case.operation.path == "/api/v1/users/{id}"
        and str(case.path_parameters.get("id", "")).lower() in PROTECTED_USERS
    ):
        case.path_parameters["id"] = DECOY_USER
    # Long polls: a valid `wait` of up to 60 s would make each such case wait that long when
    # nothing changes (and trip the response-time check); one second exercises the same path.
    if case.operation.path == "/api/v1/sync/changes" and case.query and re.fullmatch(r"[0-9]{1,2}s?", str(case.query.get("wait", ""))):
        case.query["wait"] = "1"
    if (
        OPEN311_API_KEY
        and (case.method.upper(), case.operation.path) == OPEN311_CREATE
        and not _is_negative(case, ParameterLocation.QUERY)
    ):
        case.query = {**(case.query or {}), "api_key": OPEN311_API_KEY}


# --- false positives ---------------------------------------------------------------------------


def _json(raw) -> object:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _errors(response) -> list[dict] | None:
    body = _json(response.content)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not all(isinstance(e, dict) for e in errors):
        return None
    return errors


def _inexpressible(label: str, error: dict) -> bool:
    # `not_found` / `inactive`: a well-formed reference to something that does not exist or was
    # deactivated — a fact about stored data, not about the request's shape.
    if error.get("field") == "cursor" or error.get("code") in ("not_found", "inactive"):
        return True
    message = str(error.get("message", ""))
    field_name = str(error.get("field", ""))
    # A rule's field ending in "[" stands for every element of that list (`items[3].position`).
    return any(
        op in (label, "*")
        and (field in (field_name, "*") or (field.endswith("[") and field_name.startswith(field)))
        and frag in message
        for op, field, frag in BUSINESS_RULES
    )


_tokens: dict[str, str] = {}
_tokens_lock = threading.Lock()


def _request(method: str, url: str, body=None, headers=None):
    data = None if body is None else body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, _json(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, _json(e.read())


def _token_for(identity: str) -> str | None:
    """Log in as a WFC identity of ST_AUTH_FILE (as schemathesis does), once per run."""
    with _tokens_lock:
        if identity in _tokens:
            return _tokens[identity]
        with open(AUTH_FILE, encoding="utf-8") as f:
            entries = {e["name"]: e for e in json.load(f)["auth"]}
        login = entries[identity]["loginEndpointAuth"]
        status, body = _request(
            login["verb"],
            BASE_URL + login["endpoint"],
            login["payloadRaw"],
            {"Content-Type": login.get("contentType", "application/json")},
        )
        token = body.get("access_token") if status == 200 and isinstance(body, dict) else None
        if token:
            _tokens[identity] = token
        return token


def _listed_for(identity: str, collection: str, value: str) -> bool:
    """Whether `identity` finds an item holding `value` on any page of GET `collection`."""
    token = _token_for(identity)
    if not token:
        return False
    cursor = None
    for _ in range(200):
        query = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        status, body = _request(
            "GET",
            f"{BASE_URL}{collection}?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        if status != 200 or not isinstance(body, dict):
            return False
        for item in body.get("items") or []:
            if isinstance(item, dict) and any(str(v) == value for v in item.values() if isinstance(v, (str, int))):
                return True
        cursor = body.get("next_cursor")
        if not cursor:
            return False
    return False


# The If-Match schema of every operation (src/openapi.rs ETAG_LIST_PATTERN, maxLength 200).
_ETAG_LIST = re.compile(r'^(\*|(W/)?"[\x21\x23-\x2B\x2D-\x7E]*"(\s*,\s*(W/)?"[\x21\x23-\x2B\x2D-\x7E]*")*)$')


def _bad_precondition_header(case) -> bool:
    """An If-Match / If-None-Match value outside its own schema: the request was not valid, even
    when schemathesis's stateful phase labels it so."""
    for name in ("If-Match", "If-None-Match"):
        value = (case.headers or {}).get(name)
        if value is not None and (len(value) > 200 or not _ETAG_LIST.match(value)):
            return True
    return False


def _dropped(failure, case, response, reason: str) -> bool:
    if FILTER_LOG:
        line = f"{failure.code} {case.method.upper()} {case.formatted_path} -> {response.status_code}: {reason}\n"
        with _tokens_lock, open(FILTER_LOG, "a", encoding="utf-8") as f:
            f.write(line)
    return False


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    label = f"{case.method.upper()} {case.operation.path}"
    if failure.code == "ST202":
        if _is_negative(case):
            return _dropped(failure, case, response, "part of the request was generated invalid (negative mode)")
        if response.status_code == 400 and _bad_precondition_header(case):
            return _dropped(failure, case, response, "If-Match/If-None-Match does not match its schema")
        if case.operation.path.startswith("/open311/") and response.status_code == 400:
            body = _json(response.content)
            if isinstance(body, list) and body and all(
                isinstance(e, dict) and any(r in str(e.get("description", "")) for r in OPEN311_RULES) for e in body
            ):
                detail = "; ".join(str(e.get("description")) for e in body)
                return _dropped(failure, case, response, f"Open311 rule not expressible in a schema ({detail})")
        errors = _errors(response) if response.status_code == 422 else None
        if errors and all(_inexpressible(label, e) for e in errors):
            detail = "; ".join(f"{e.get('field')}: {e.get('code')}: {e.get('message')}" for e in errors)
            return _dropped(failure, case, response, f"not expressible in a schema ({detail})")
    if failure.code == "ST201" and label in BATCH_IMPORTS and response.status_code == 200:
        body = _json(response.content)
        summary = body.get("summary", {}) if isinstance(body, dict) else {}
        if summary.get("rejected", 0) > 0:
            return _dropped(failure, case, response, "a batch import rejects an invalid item alone, as documented (200 with `rejected`)")
    if failure.code == "ST402" and BASE_URL and label == "GET /api/v1/messages/{id}":
        # A public message is on the anonymous board: every account reads its public, masked
        # projection (docs/ACCESS.md), so the peer reading it is the design, not a bypass.
        body = _json(response.content)
        tracking_no = body.get("tracking_no") if isinstance(body, dict) else None
        if isinstance(tracking_no, str) and tracking_no:
            status, _ = _request("GET", f"{BASE_URL}/api/v1/public/messages/{urllib.parse.quote(tracking_no)}")
            if status == 200:
                return _dropped(failure, case, response, f"{tracking_no} is on the public board")
    if failure.code == "ST402" and BASE_URL and AUTH_FILE and case.path_parameters:
        collection, _, last = case.operation.path.rpartition("/")
        if last.startswith("{") and last.endswith("}"):
            value = str(case.path_parameters.get(last[1:-1], ""))
            peer = getattr(failure, "peer", None)
            if value and peer and _listed_for(peer, collection, value):
                return _dropped(failure, case, response, f"{peer} lists {value} in GET {collection} (shared)")
    return True
