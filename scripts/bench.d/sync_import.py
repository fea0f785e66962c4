"""Client side of scripts/bench-sync: post pre-built import batches and report messages/s."""

import datetime
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

out = sys.argv[1]
base = urllib.parse.urlparse(os.environ["BENCH_BASE"])
batches_n = int(os.environ["BENCH_BATCHES"])
conc = int(os.environ["BENCH_CONC"])
leader, category = os.environ["BENCH_LEADER"], os.environ["BENCH_CATEGORY"]
server_pid, db_name = os.environ.get("BENCH_SERVER_PID"), os.environ.get("BENCH_DB_NAME")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    """CPU seconds so far of the server, of PostgreSQL's backends serving the bench database
    (a local server only: found by their process titles) and of this client."""
    def of(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            return 0.0
    server = of(server_pid) if server_pid else 0.0
    backends = 0.0
    if db_name:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and f" {db_name} ".encode() in title:
                backends += of(pid)
    client = sum(os.times()[:2])
    return server, backends, client


def call(method, path, body=None, token=None):
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=120)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse()
    data = json.loads(r.read() or b"null")
    conn.close()
    return r.status, data


_, t = call("POST", "/api/v1/auth/token", {"grant_type": "password", "email": "admin@liuyan.example", "password": "Demo-Admin-2026"})
status, c = call("POST", "/api/v1/integration-clients", {"name": "bench 联络平台", "scopes": ["sync:write"]}, t["access_token"])
assert status == 201, c
status, t = call("POST", "/api/v1/auth/token", {"grant_type": "client_credentials", "client_id": c["client"]["client_id"], "client_secret": c["client_secret"]})
assert status == 200, t
token = t["access_token"]

rng = random.Random(20261127)
words = "红绿灯 路面 积水 噪音 供暖 物业 公交 学校 医院 停车 垃圾 路灯 施工 排水 绿化 电梯 燃气 供水".split()
now = datetime.datetime.now(datetime.timezone.utc)
run = now.strftime("%Y%m%d%H%M%S")
bodies = []
for b in range(batches_n):
    items = []
    for i in range(500):
        w = rng.sample(words, 3)
        submitted = now - datetime.timedelta(minutes=rng.randint(10, 60 * 24 * 30))
        items.append({
            "source": "bench-board", "external_id": f"{run}-{b}-{i}",
            "updated_at": submitted.isoformat(), "submitted_at": submitted.isoformat(),
            "leader_id": leader, "category_id": category, "kind": "complaint",
            "title": f"{w[0]}{w[1]}问题反映",
            "body": f"城关区{w[0]}和{w[1]}的问题已经持续很久，附近居民反映强烈，{w[2]}也受到影响，请有关部门尽快处理。" * rng.randint(1, 4),
            "visibility": "public", "contact_name": "王先生", "contact_phone": "13800138000",
        })
    bodies.append(json.dumps({"items": items}).encode())
size = sum(len(b) for b in bodies) / len(bodies)
print(f"bench: {batches_n} batches of 500, {size / 1024:.0f} KiB each, {conc} client threads")


def run_pass(label):
    latencies, counts, lock = [], {}, threading.Lock()
    queue = list(range(len(bodies)))

    def worker():
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                n = queue.pop(0)
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/sync/messages", bodies[n], {"content-type": "application/json", "authorization": f"Bearer {token}"})
            r = conn.getresponse()
            data = r.read()
            dt = time.perf_counter() - t0
            assert r.status == 200, (r.status, data[:500])
            summary = json.loads(data)["summary"]
            with lock:
                latencies.append(dt)
                for k, v in summary.items():
                    counts[k] = counts.get(k, 0) + v
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    cpu = [b - a for a, b in zip(cpu0, cpu_seconds())]
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    items = batches_n * 500
    print(f"bench: {label}: {items} items in {wall:.1f} s = {items / wall:,.0f} items/s; batch p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms; outcomes {counts}")
    per = lambda s: s / items * 1e6
    print(f"bench: {label}: CPU per item: server {per(cpu[0]):.0f} µs, PostgreSQL backends {per(cpu[1]):.0f} µs, client {per(cpu[2]):.0f} µs ({cpu[0]:.2f} / {cpu[1]:.2f} / {cpu[2]:.2f} s)")
    return counts


first = run_pass("import (all new)")
assert first.get("created") == batches_n * 500, first
second = run_pass("replay (all unchanged)")
assert second.get("unchanged") == batches_n * 500, second
