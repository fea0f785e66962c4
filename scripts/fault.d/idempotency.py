#!/usr/bin/env python3
"""Client side of scripts/fault-idempotency (standard library only; 127.0.0.1 only).

  idempotency.py burst   N clients POST /api/v1/messages at once, each with its own key; the
                         server (IDEM_SERVER_PID) is sent SIGKILL IDEM_KILL_MS ms after the start.
                         Writes OUT/burst.json: per key the body sent and the answer, if any.
  idempotency.py retry   every request of burst.json again, same key and body (a 503 is retried,
                         as a client would); writes OUT/retry.json.
  idempotency.py lease   one POST with a key while the leader's row is held by LOCK_CMD for
                         IDEM_LOCK_SECS; retries at +5 s and +62 s; a last retry after the first
                         answered. Writes OUT/lease.json.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

OUT = os.environ["IDEM_OUT_DIR"]
HOST = urllib.parse.urlparse(os.environ["IDEM_BASE_URL"]).netloc
TOKEN = os.environ["IDEM_TOKEN"]
LEADER = os.environ["IDEM_LEADER"]
CATEGORY = "01930000-0000-7000-8000-000000000002"  # 交通出行 (demo data)


def body(title):
    return {
        "leader_id": LEADER, "category_id": CATEGORY, "kind": "complaint", "title": title,
        "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，请尽快修理。",
        "region_code": "620102", "address": "庆阳路与酒泉路交叉口",
        "location": {"lat": 36.0611, "lon": 103.8343}, "visibility": "public",
    }


def post(key, payload, timeout=30.0):
    """(status, replayed, message id, problem type); status 0 when no answer came."""
    c = http.client.HTTPConnection(HOST, timeout=timeout)
    try:
        c.request("POST", "/api/v1/messages", body=json.dumps(payload).encode(), headers={
            "Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
            "Idempotency-Key": key})
        r = c.getresponse()
        raw = r.read()
        try:
            j = json.loads(raw) if raw else {}
        except ValueError:
            j = {}
        if not isinstance(j, dict):
            j = {}
        # 201 answers {"message": {...}, "receipt": {...}}.
        mid = (j.get("message") or {}).get("id") if isinstance(j.get("message"), dict) else None
        return (r.status, r.getheader("Idempotent-Replayed") == "true", mid, j.get("type"))
    except Exception:
        return (0, False, None, None)
    finally:
        c.close()


def burst():
    n = int(os.environ.get("IDEM_CLIENTS", "60"))
    kill_ms = float(os.environ.get("IDEM_KILL_MS", "100"))
    pid = int(os.environ["IDEM_SERVER_PID"])
    run = uuid.uuid4().hex[:8]
    reqs = [{"key": f"drill-{run}-{i}", "body": body(f"幂等演练 {run} 第{i}号")} for i in range(n)]
    go = threading.Event()

    def one(r):
        go.wait()
        r["first"] = post(r["key"], r["body"])

    threads = [threading.Thread(target=one, args=(r,)) for r in reqs]
    for t in threads:
        t.start()
    start = time.monotonic()
    go.set()
    time.sleep(kill_ms / 1000)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic() - start
    for t in threads:
        t.join()
    json.dump({"run": run, "killed_at_ms": round(killed_at * 1000), "requests": reqs},
              open(f"{OUT}/burst.json", "w"), ensure_ascii=False)


def retry():
    state = json.load(open(f"{OUT}/burst.json"))

    def one(r):
        for attempt in range(10):
            r["retry"] = post(r["key"], r["body"])
            r["retry_attempts"] = attempt + 1
            if r["retry"][0] not in (0, 503):
                return
            time.sleep(0.5)

    threads = [threading.Thread(target=one, args=(r,)) for r in state["requests"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(state, open(f"{OUT}/retry.json", "w"), ensure_ascii=False)


def lease():
    lock_secs = float(os.environ.get("IDEM_LOCK_SECS", "72"))
    key = f"lease-{uuid.uuid4().hex[:8]}"
    payload = body(f"幂等演练 {key}")
    locker = subprocess.Popen(os.environ["IDEM_LOCK_CMD"], shell=True)
    time.sleep(1.0)  # the lock is taken
    t0 = time.monotonic()
    first = {}
    th = threading.Thread(target=lambda: first.update(answer=post(key, payload, timeout=lock_secs + 60),
                                                      at=time.monotonic() - t0))
    th.start()
    retries = []
    for at in (5, 62):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        sent = time.monotonic() - t0
        retries.append({"at_s": round(sent, 1), "answer": post(key, payload)})
    th.join()
    locker.wait()
    after = post(key, payload)
    json.dump({"key": key, "title": payload["title"], "lock_secs": lock_secs,
               "first": first.get("answer"), "first_answered_at_s": round(first.get("at", 0), 1),
               "retries": retries, "after": after},
              open(f"{OUT}/lease.json", "w"), ensure_ascii=False)


{"burst": burst, "retry": retry, "lease": lease}[sys.argv[1]]()
