"""Eight expensive searches against one cheap poller (scripts/drill-search). Loopback only."""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ["DRILL_BASE"]
assert BASE.startswith("http://127.0.0.1:"), "loopback only"
SECONDS = float(os.environ.get("DRILL_SECONDS", "20"))
CALLERS = int(os.environ.get("DRILL_CALLERS", "8"))
PHRASE = urllib.parse.quote(os.environ.get("DRILL_Q", "公交通信"))


def call(path, token=None, body=None):
    """(status, seconds, problem detail or None)"""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, headers=headers)
    t = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status, time.monotonic() - t, None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            detail = json.loads(raw).get("detail")
        except ValueError:
            detail = raw[:100]
        return e.code, time.monotonic() - t, detail
    except OSError as e:
        return 0, time.monotonic() - t, str(e)


def login(email, password):
    with urllib.request.urlopen(urllib.request.Request(
            BASE + "/api/v1/auth/token",
            data=json.dumps({"grant_type": "password", "email": email,
                             "password": password}).encode(),
            headers={"content-type": "application/json"})) as r:
        return json.load(r)["access_token"]


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def phase(name, path, search_token, me_token, body=None, seconds=None):
    seconds = seconds or SECONDS
    stop = time.monotonic() + seconds
    searches, mes, lock = [], [], threading.Lock()

    def searcher():
        while time.monotonic() < stop:
            r = call(path, search_token, body)
            with lock:
                searches.append(r)

    def poller():
        while time.monotonic() < stop:
            t = time.monotonic()
            r = call("/api/v1/me", me_token)
            with lock:
                mes.append(r)
            time.sleep(max(0.0, 0.3 - (time.monotonic() - t)))

    threads = [threading.Thread(target=searcher) for _ in range(CALLERS)]
    threads.append(threading.Thread(target=poller))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    by_status = {}
    for s, _, d in searches:
        by_status.setdefault(s, []).append(d)
    print(f"\n== {name}: {CALLERS} callers of {'POST ' if body is not None else ''}{path} for {seconds:.0f} s")
    print(f"calls: {len(searches)} ({len(searches) / seconds:.1f}/s); "
          + ", ".join(f"{s}: {len(v)}" for s, v in sorted(by_status.items())))
    ok = [t for s, t, _ in searches if s in (200, 201)]
    print(f"2xx latency: p50 {pct(ok, 50) * 1000:.0f} ms, p90 {pct(ok, 90) * 1000:.0f} ms, "
          f"max {max(ok, default=float('nan')) * 1000:.0f} ms")
    for s, details in sorted(by_status.items()):
        if s not in (200, 201):
            kinds = {}
            for d in details:
                kinds[str(d)[:90]] = kinds.get(str(d)[:90], 0) + 1
            for d, n in sorted(kinds.items(), key=lambda x: -x[1])[:3]:
                print(f"  {s} x{n}: {d}")
    good = [t for s, t, _ in mes if s == 200]
    bad = [(s, d) for s, _, d in mes if s != 200]
    lat = [t for _, t, _ in mes]
    print(f"GET /me: {len(good)} ok, {len(bad)} failed of {len(mes)}; latency p50 "
          f"{pct(lat, 50) * 1000:.1f} ms, p90 {pct(lat, 90) * 1000:.1f} ms, p99 "
          f"{pct(lat, 99) * 1000:.1f} ms, max {max(lat, default=float('nan')) * 1000:.1f} ms")
    for s, d in bad[:3]:
        print(f"  /me {s}: {d}")
    return len(bad)


def drafts(token):
    n, cursor = 0, ""
    while True:
        req = urllib.request.Request(
            BASE + f"/api/v1/briefings?status=draft&limit=100{cursor}",
            headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req) as r:
            page = json.load(r)
        n += len(page["items"])
        if not page.get("next_cursor"):
            return n
        cursor = "&cursor=" + page["next_cursor"]


def main():
    citizen = login("citizen@liuyan.example", "Demo-Citizen-2026")
    failed = phase("citizen search", f"/api/v1/messages?q={PHRASE}&limit=20", citizen, citizen)
    failed += phase("board search (anonymous)", f"/api/v1/public/messages?q={PHRASE}&limit=20",
                    None, citizen)
    supervisor = login("supervisor@liuyan.example", "Demo-Supervisor-2026")
    before = drafts(supervisor)
    failed += phase("briefing creation (supervisor)", "/api/v1/briefings", supervisor, citizen,
                    body={}, seconds=float(os.environ.get("DRILL_BRIEFING_SECONDS", "10")))
    print(f"drafts left by the phase: {drafts(supervisor) - before}")
    print(f"\ndrill-search: {'PASS' if failed == 0 else 'FAIL'}: {failed} failed /me calls")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
