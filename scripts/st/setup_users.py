"""Prepare the identities for scripts/schemathesis against a freshly seeded server.

Usage: python3 setup_users.py BASE_URL AUTH_FILE

Logs in as the demo admin, creates a second unit administrator in another unit (兰州市教育局),
checks that each identity can log in, and writes a Web Fuzzing Commons auth file that
schemathesis uses to log in by itself (`[auth.wfc]` in schemathesis.toml). Prints shell
assignments (ST_PROTECTED_USER_IDS, ST_DECOY_USER_ID) for the hooks on stdout.

Standard library only, so it runs with any python3.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# Identity names are what schemathesis prints in its findings (scripts/schemathesis runs one pass
# per identity with --auth-wfc-user). The two unit administrators are "peers": users of different
# units that must not see each other's objects.
ADMIN = ("admin", "admin@liuyan.example", "Demo-Admin-2026")
PEER_A = ("unitadmin-transport", "unitadmin@liuyan.example", "Demo-UnitAdmin-2026")
PEER_B = ("unitadmin-education", "unitadmin.edu@liuyan.example", "Demo-UnitAdmin-Edu-2026")
# A citizen: the only role that writes, withdraws and resubmits its own messages.
CITIZEN = ("citizen", "citizen@liuyan.example", "Demo-Citizen-2026")
PEER_B_UNIT = "兰州市教育局"
# A PATCH aimed at a protected identity goes to this seeded account instead (see hooks.py).
DECOY_EMAIL = "reviewer@liuyan.example"

TOKEN_PATH = "/api/v1/auth/token"


def log(msg: str) -> None:
    print(f"setup_users: {msg}", file=sys.stderr)


def call(base: str, method: str, path: str, body=None, token: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
        if method == "POST":
            req.add_header("Idempotency-Key", str(uuid.uuid4()))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def login(base: str, email: str, password: str) -> str:
    status, body = call(base, "POST", TOKEN_PATH, {"grant_type": "password", "email": email, "password": password})
    if status != 200:
        sys.exit(f"setup_users: login as {email} failed: {status} {body}")
    return body["access_token"]


def wait_ready(base: str, seconds: int = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, _ = call(base, "GET", "/readyz")
            if status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"setup_users: {base}/readyz did not answer 200 within {seconds}s")
        time.sleep(0.5)


def list_all(base: str, path: str, token: str) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {"limit": "100"}
        if cursor:
            query["cursor"] = cursor
        status, body = call(base, "GET", f"{path}?{urllib.parse.urlencode(query)}", token=token)
        if status != 200:
            sys.exit(f"setup_users: GET {path} failed: {status} {body}")
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def main() -> None:
    base, auth_file = sys.argv[1].rstrip("/"), sys.argv[2]
    wait_ready(base)
    admin = login(base, ADMIN[1], ADMIN[2])

    units = {u["name"]: u["id"] for u in list_all(base, "/api/v1/units", admin)}
    if PEER_B_UNIT not in units:
        sys.exit(f"setup_users: unit {PEER_B_UNIT} not found; was the demo data seeded?")
    status, body = call(
        base,
        "POST",
        "/api/v1/users",
        {
            "email": PEER_B[1],
            "password": PEER_B[2],
            "display_name": "教育局单位管理员",
            "role": "unit_admin",
            "unit_id": units[PEER_B_UNIT],
        },
        token=admin,
    )
    if status == 201:
        log(f"created {PEER_B[1]} (unit_admin of {PEER_B_UNIT})")
    elif status == 409:
        log(f"{PEER_B[1]} exists already")
    else:
        sys.exit(f"setup_users: creating {PEER_B[1]} failed: {status} {body}")

    ids = []
    for name, email, password in (PEER_A, PEER_B, ADMIN, CITIZEN):
        token = login(base, email, password)
        status, me = call(base, "GET", "/api/v1/me", token=token)
        if status != 200:
            sys.exit(f"setup_users: GET /api/v1/me as {email} failed: {status} {me}")
        ids.append(me["id"])
        log(f"{name}: {email} role={me.get('role')} unit={me.get('unit_id')}")
    decoy = next((u["id"] for u in list_all(base, "/api/v1/users", admin) if u["email"] == DECOY_EMAIL), "")
    if not decoy:
        sys.exit(f"setup_users: decoy account {DECOY_EMAIL} not found")

    # The liaison platform: an integration client holding every scope, for the sync API.
    status, body = call(
        base,
        "POST",
        "/api/v1/integration-clients",
        {"name": "schemathesis 联络平台", "scopes": ["sync:read", "sync:write", "webhooks:manage"]},
        token=admin,
    )
    if status != 201:
        sys.exit(f"setup_users: creating the integration client failed: {status} {body}")
    client_id, client_secret = body["client"]["client_id"], body["client_secret"]
    log(f"created integration client {client_id}")

    def token_entry(name: str, payload: dict) -> dict:
        return {
            "name": name,
            "loginEndpointAuth": {
                "endpoint": TOKEN_PATH,
                "verb": "POST",
                "contentType": "application/json",
                "payloadRaw": json.dumps(payload),
                "token": {
                    "extractFrom": "body",
                    "extractSelector": "/access_token",
                    "sendIn": "header",
                    "sendName": "Authorization",
                    "sendTemplate": "Bearer {token}",
                },
            },
        }

    def entry(name: str, email: str, password: str) -> dict:
        return {
            "name": name,
            "loginEndpointAuth": {
                "endpoint": TOKEN_PATH,
                "verb": "POST",
                "contentType": "application/json",
                "payloadRaw": json.dumps({"grant_type": "password", "email": email, "password": password}),
                "token": {
                    "extractFrom": "body",
                    "extractSelector": "/access_token",
                    "sendIn": "header",
                    "sendName": "Authorization",
                    "sendTemplate": "Bearer {token}",
                },
            },
        }

    integration = token_entry(
        "integration",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    )
    doc = {
        "schemaVersion": "0.2.0",
        "auth": [entry(*ADMIN), entry(*PEER_A), entry(*PEER_B), entry(*CITIZEN), integration],
    }
    with open(auth_file, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=2)
    log(f"wrote {auth_file}")
    print(f"ST_PROTECTED_USER_IDS={','.join(ids)}")
    print(f"ST_DECOY_USER_ID={decoy}")
    print(f"ST_OPEN311_API_KEY={open311_api_key(base, admin)}")


def open311_api_key(base: str, admin: str) -> str:
    """An access token of an integration client with `sync:write`: the `api_key` the hooks put
    on `POST /open311/v2/requests.json` (the Open311 facade takes it in the form or the query)."""
    status, body = call(
        base,
        "POST",
        "/api/v1/integration-clients",
        {"name": "schemathesis Open311 client", "scopes": ["sync:write"]},
        token=admin,
    )
    if status != 201:
        sys.exit(f"setup_users: creating the Open311 client failed: {status} {body}")
    status, token = call(
        base,
        "POST",
        TOKEN_PATH,
        {
            "grant_type": "client_credentials",
            "client_id": body["client"]["client_id"],
            "client_secret": body["client_secret"],
        },
    )
    if status != 200:
        sys.exit(f"setup_users: the Open311 client's token failed: {status} {token}")
    log("created the Open311 integration client (sync:write)")
    return token["access_token"]


if __name__ == "__main__":
    main()
