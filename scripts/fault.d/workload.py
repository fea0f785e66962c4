#!/usr/bin/env python3
"""Mixed workload against a liuyan server while PostgreSQL is restarted (scripts/fault-pg-restart).

Threads of citizens read their messages, submit new ones and withdraw some (a state change),
for DURATION seconds. At RESTART_AT seconds it runs STOP_CMD, waits DOWN_SECS, runs START_CMD.
Every write the server acknowledged with 2xx is recorded in OUT_DIR (acked_messages.txt,
acked_withdrawals.txt); timings and status counts go to OUT_DIR/result.json. Standard library only.
"""
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

BASE_PORT = int(os.environ["FAULT_PORT"])
DURATION = float(os.environ.get("FAULT_DURATION", "60"))
RESTART_AT = float(os.environ.get("FAULT_RESTART_AT", "20"))
DOWN_SECS = float(os.environ.get("FAULT_DOWN_SECS", "5"))
THREADS = int(os.environ.get("FAULT_THREADS", "8"))
STOP_CMD = os.environ["FAULT_STOP_CMD"]
START_CMD = os.environ["FAULT_START_CMD"]
OUT = os.environ["FAULT_OUT_DIR"]
TOKEN = os.environ["FAULT_TOKEN"]
LEADER = os.environ["FAULT_LEADER"]
CATEGORY = os.environ["FAULT_CATEGORY"]
TIMEOUT = 10.0  # a request slower than this counts as a hang

lock = threading.Lock()
samples = []  # (start, end, op, status) — status 0 for a transport error or timeout
acked_messages = []  # (id, tracking_no)
acked_withdrawals = []  # message id
own = []  # (id, etag) of submitted messages not yet withdrawn
stop = threading.Event()


def request(conn_box, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + TOKEN}
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    try:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", BASE_PORT, timeout=TIMEOUT)
        c = conn_box[0]
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        etag = r.getheader("ETag")
        ctype = r.getheader("Content-Type") or ""
        if r.getheader("Connection", "").lower() == "close":
            c.close()
            conn_box[0] = None
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return r.status, payload, etag, ctype
    except Exception as e:  # timeout, reset, refused: a failure without a status
        if conn_box[0] is not None:
            conn_box[0].close()
        conn_box[0] = None
        return 0, str(e), None, ""


def worker(n):
    rnd = random.Random(n)
    conn = [None]
    i = 0
    while not stop.is_set():
        i += 1
        roll = rnd.random()
        start = time.monotonic()
        if roll < 0.5:
            op = "read"
            status, body, _, ctype = request(conn, "GET", "/api/v1/messages?limit=20")
        elif roll < 0.85 or not own:
            op = "submit"
            status, body, etag, ctype = request(conn, "POST", "/api/v1/messages", {
                "leader_id": LEADER, "category_id": CATEGORY, "kind": "complaint",
                "title": f"故障演练{n}-{i} 路灯不亮",
                "body": f"城关区庆阳路的路灯已经三天不亮了，晚上出行很不安全，请尽快修理。编号{n}-{i}",
                "region_code": "620102", "visibility": "public"})
            if 200 <= status < 300:
                m = body["message"]
                with lock:
                    acked_messages.append((m["id"], body["receipt"]["tracking_no"]))
                    own.append((m["id"], etag))
        else:
            op = "withdraw"
            with lock:
                mid, etag = own.pop(rnd.randrange(len(own)))
            status, body, _, ctype = request(conn, "POST", f"/api/v1/messages/{mid}/withdraw",
                                             {}, {"If-Match": etag})
            if 200 <= status < 300:
                with lock:
                    acked_withdrawals.append(mid)
            elif status in (0, 503):
                with lock:
                    own.append((mid, etag))  # may be retried later; outcome checked only if acked
        end = time.monotonic()
        problem = ctype.startswith("application/problem+json")
        with lock:
            samples.append((start, end, op, status, problem))
        if status in (0, 503):
            time.sleep(0.05)  # what a polite client does before retrying


def main():
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(RESTART_AT)
    t_stop_begin = time.monotonic()
    subprocess.run(STOP_CMD, shell=True, check=True)
    t_stopped = time.monotonic()
    time.sleep(DOWN_SECS)
    t_start_begin = time.monotonic()
    subprocess.run(START_CMD, shell=True, check=True)
    t_up = time.monotonic()
    time.sleep(max(0.0, DURATION - (t_up - t0)))
    stop.set()
    for t in threads:
        t.join(TIMEOUT + 5)

    with open(os.path.join(OUT, "acked_messages.txt"), "w") as f:
        for mid, tracking in acked_messages:
            f.write(f"{mid}\t{tracking}\n")
    with open(os.path.join(OUT, "acked_withdrawals.txt"), "w") as f:
        for mid in acked_withdrawals:
            f.write(f"{mid}\n")

    statuses = {}
    for s in samples:
        statuses[str(s[3])] = statuses.get(str(s[3]), 0) + 1
    failures = [s for s in samples if not 200 <= s[3] < 300]
    # The outage: from the stop command to the server's start; failures of requests that began
    # in it, and the slowest of them.
    outage = [s for s in failures if t_stop_begin <= s[0] <= t_up]
    after = [s for s in samples if s[0] >= t_up and 200 <= s[3] < 300]
    first_ok = min((s[1] for s in after), default=None)
    late_failures = [s for s in failures if first_ok is not None and s[0] > first_ok + 1]
    result = {
        "duration_s": round(time.monotonic() - t0, 1),
        "threads": THREADS,
        "requests": len(samples),
        "statuses": statuses,
        "by_op": {op: sum(1 for s in samples if s[2] == op) for op in ("read", "submit", "withdraw")},
        "stop_cmd_s": round(t_stopped - t_stop_begin, 2),
        "db_down_s": round(t_up - t_stopped, 2),
        "start_cmd_s": round(t_up - t_start_begin, 2),
        "outage_failures": len(outage),
        "outage_failures_not_problem_json": sum(1 for s in outage if s[3] != 0 and not s[4]),
        "outage_transport_errors": sum(1 for s in outage if s[3] == 0),
        "max_failure_latency_ms": round(max((s[1] - s[0] for s in failures), default=0) * 1000),
        "max_outage_failure_latency_ms": round(max((s[1] - s[0] for s in outage), default=0) * 1000),
        "max_latency_ms": round(max((s[1] - s[0] for s in samples), default=0) * 1000),
        "first_success_after_db_up_ms": None if first_ok is None else round((first_ok - t_up) * 1000),
        "failures_after_recovery": len(late_failures),
        "acked_messages": len(acked_messages),
        "acked_withdrawals": len(acked_withdrawals),
    }
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
