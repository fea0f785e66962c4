#!/usr/bin/env python3
"""Start, load and stop a liuyan server many times; classify every exit (scripts/drill-shutdown).

Each run starts DRILL_BIN serve on a free loopback port against DATABASE_URL, waits for /readyz,
puts load on it (reads, submissions, CSV/XLSX downloads, long polls of the sync change feed,
logins and logouts that make the revocation listener work, webhook deliveries to a receiver of
our own, a scheduler, statistics fold and webhook dispatcher ticking fast), sends SIGTERM or
SIGINT at a random moment and waits for the process to end. An exit by a signal (SIGSEGV,
SIGABRT, ...) is a crash, a non-zero status an error exit, a process still alive after
DRILL_HANG_SECS a hang (then SIGKILLed). A crash leaves its log, its core file (the caller sets
`ulimit -c unlimited`) and, when gdb is installed, every thread's backtrace in DRILL_OUT.

Environment: DRILL_BIN, DATABASE_URL, DRILL_OUT (a folder), DRILL_RUNS (300), DRILL_INT_EVERY
(4: every 4th run gets SIGINT, the others SIGTERM; 0: never), DRILL_MAX_DELAY (3.0 s of load at
most before the signal), DRILL_HANG_SECS (50), DRILL_SEED. Standard library only. Writes
DRILL_OUT/result.json and prints one summary line; exit status 1 on any crash, error exit or hang.
"""
import http.client
import http.server
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time

BIN = os.environ["DRILL_BIN"]
OUT = os.environ["DRILL_OUT"]
RUNS = int(os.environ.get("DRILL_RUNS", "300"))
INT_EVERY = int(os.environ.get("DRILL_INT_EVERY", "4"))
MAX_DELAY = float(os.environ.get("DRILL_MAX_DELAY", "3.0"))
HANG_SECS = float(os.environ.get("DRILL_HANG_SECS", "50"))
SEED = int(os.environ.get("DRILL_SEED", str(int(time.time()))))
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
LEADER_TITLE_CATEGORY = "01930000-0000-7000-8000-000000000002"  # 交通出行 (demo data)

SERVER_ENV = {
    "LIUYAN_HOST": "127.0.0.1",
    "LIUYAN_PORT": "0",
    "LIUYAN_PROFILE": "development",
    "LIUYAN_LOG_FORMAT": "json",
    "LIUYAN_LOG": os.environ.get("LIUYAN_LOG", "info"),
    "LIUYAN_RATE_PER_SECOND": "1000000",
    "LIUYAN_RATE_BURST": "1000000",
    "LIUYAN_AUTH_RATE_PER_MINUTE": "1000000",
    "LIUYAN_INTAKE_PER_HOUR": "0",
    "LIUYAN_INTAKE_PER_DAY": "0",
    "LIUYAN_ACCESS_TOKEN_TTL": "86400",
    # Every background job busy: they tick many times a second.
    "LIUYAN_SCHEDULER_INTERVAL_SECS": "1",
    "LIUYAN_STATS_FOLD_INTERVAL_MS": "50",
    "LIUYAN_WEBHOOK_POLL_MS": "50",
    "LIUYAN_WEBHOOK_BACKOFF_SCALE": "0.001",
    "LIUYAN_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "LIUYAN_REVOCATION_RELOAD_SECS": "1",
}


def log(msg):
    print(f"drill-shutdown: {msg}", flush=True)


# --- a webhook receiver: answers 200 after a random pause, so deliveries are in flight --------

class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(random.random() * 0.3)
        self.send_response(200 if random.random() < 0.8 else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


# --- HTTP ---------------------------------------------------------------------------------------

def call(port, method, path, body=None, token=None, headers=None, timeout=10.0, conn_box=None):
    """(status, parsed body or None); status 0 for a transport error."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        h["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    box = conn_box if conn_box is not None else [None]
    try:
        if box[0] is None:
            box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c = box[0]
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        if conn_box is None or (r.getheader("Connection") or "").lower() == "close":
            c.close()
            box[0] = None
        ctype = r.getheader("Content-Type") or ""
        parsed = None
        if raw and "json" in ctype:
            try:
                parsed = json.loads(raw)
            except ValueError:
                pass
        return r.status, parsed
    except Exception as e:  # refused, reset, timeout: expected once the server stops
        if box[0] is not None:
            box[0].close()
        box[0] = None
        return 0, str(e)


def login(port, email, password):
    status, body = call(port, "POST", "/api/v1/auth/token",
                        {"grant_type": "password", "email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"login {email}: {status} {body}")
    return body


# --- one server process -------------------------------------------------------------------------

class Server:
    def __init__(self, n, env):
        self.dir = os.path.join(OUT, f"run-{n:04d}")
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "server.log")
        self.log_file = open(self.log_path, "wb")

        def core_files():  # in the child: allow a core dump whatever our own limit is
            try:
                resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            except (ValueError, OSError):
                pass

        self.proc = subprocess.Popen([BIN, "serve"], cwd=self.dir, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, preexec_fn=core_files)
        self.port = None

    def wait_listening(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        marker = b"listening on http://127.0.0.1:"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with open(self.log_path, "rb") as f:
                text = f.read()
            i = text.find(marker)
            if i >= 0:
                digits = text[i + len(marker):].split(b" ")[0].split(b"\n")[0]
                if digits.isdigit():
                    self.port = int(digits)
                    break
            time.sleep(0.02)
        if self.port is None:
            return False
        while time.monotonic() < deadline:
            if call(self.port, "GET", "/readyz", timeout=2)[0] == 200:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# --- the load -------------------------------------------------------------------------------------

class Load:
    """Client threads against one server until `stop`; counts requests by outcome."""

    def __init__(self, port, ctx, rnd):
        self.port, self.ctx, self.rnd = port, ctx, rnd
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {}
        self.threads = []

    def count(self, op, status):
        key = f"{op}:{status // 100}xx" if status else f"{op}:refused"
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def run(self, name, body):
        def loop():
            box = [None]
            seed = self.rnd.random()
            rnd = random.Random(seed)
            while not self.stop.is_set():
                status = body(box, rnd)
                self.count(name, status)
                if status == 0:
                    time.sleep(0.02)
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.threads.append(t)

    def start(self):
        p, c = self.port, self.ctx

        def reads(box, rnd):
            path = rnd.choice(["/api/v1/messages?limit=20&mine=true", "/api/v1/messages?limit=5",
                               "/api/v1/units?limit=50", "/readyz", "/metrics",
                               "/api/v1/messages?q=%E8%B7%AF%E7%81%AF&limit=10"])
            return call(p, "GET", path, token=c["citizen"], conn_box=box)[0]

        def submit(box, rnd):
            n = rnd.randrange(1 << 30)
            return call(p, "POST", "/api/v1/messages", {
                "leader_id": c["leader"], "category_id": LEADER_TITLE_CATEGORY, "kind": "complaint",
                "title": f"停机演练{n} 路灯不亮",
                "body": f"城关区庆阳路的路灯已经三天不亮了，晚上出行很不安全，请尽快修理。编号{n}",
                "region_code": "620102", "visibility": "public"}, token=c["citizen"], conn_box=box)[0]

        def feed(box, rnd):
            # Long poll: the cursor follows the feed, so this waits for new submissions.
            status, body = call(p, "GET", f"/api/v1/sync/changes?limit=100&wait=1&after={c['cursor']}",
                                token=c["integration"], timeout=15, conn_box=box)
            if status == 200 and isinstance(body, dict) and body.get("next_cursor"):
                c["cursor"] = body["next_cursor"]
            return status

        def download(box, rnd):
            fmt = rnd.choice(["csv", "csv", "xlsx"])
            return call(p, "GET", f"/api/v1/ledger?format={fmt}", token=c["analyst"], timeout=30,
                        conn_box=box)[0]

        def sessions(box, rnd):
            # A login and its logout: the logout's revocation is NOTIFYed to the listener.
            status, body = call(p, "POST", "/api/v1/auth/token",
                                {"grant_type": "password", "email": "handler@liuyan.example",
                                 "password": "Demo-Handler-2026"}, conn_box=box)
            if status != 200 or not isinstance(body, dict):
                return status
            return call(p, "POST", "/api/v1/auth/logout", {"refresh_token": body["refresh_token"]},
                        conn_box=box)[0]

        for _ in range(3):
            self.run("read", reads)
        for _ in range(2):
            self.run("submit", submit)
        self.run("feed", feed)
        self.run("download", download)
        self.run("session", sessions)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(35)


# --- classification -------------------------------------------------------------------------------

def gdb_backtrace(run_dir):
    cores = [f for f in os.listdir(run_dir) if f == "core" or f.startswith("core.")]
    if not cores:
        return None
    core = os.path.join(run_dir, cores[0])
    out = os.path.join(run_dir, "backtrace.txt")
    try:
        with open(out, "w") as f:
            subprocess.run(["gdb", "-batch", "-nx", "-ex", "info threads", "-ex", "thread apply all bt 30",
                            BIN, core], stdout=f, stderr=subprocess.STDOUT, timeout=300)
        return out
    except (OSError, subprocess.TimeoutExpired):
        return core


def setup(env):
    """Tokens and a webhook subscription, through a first server."""
    srv = Server(0, env)
    if not srv.wait_listening():
        sys.exit("drill-shutdown: the setup server did not start:\n" + srv.log_text()[-3000:])
    p = srv.port
    admin = login(p, "admin@liuyan.example", "Demo-Admin-2026")["access_token"]
    ctx = {
        "citizen": login(p, "citizen@liuyan.example", "Demo-Citizen-2026")["access_token"],
        "analyst": login(p, "analyst@liuyan.example", "Demo-Analyst-2026")["access_token"],
    }
    status, leaders = call(p, "GET", "/api/v1/leaders?limit=100", token=admin)
    items = leaders.get("items", []) if isinstance(leaders, dict) else []
    mayor = [x for x in items if x.get("title") == "兰州市市长"]
    if status != 200 or not mayor:
        sys.exit(f"drill-shutdown: cannot find the demo leader: {status} {leaders}")
    ctx["leader"] = mayor[0]["id"]
    status, client = call(p, "POST", "/api/v1/integration-clients",
                          {"name": "drill-shutdown", "scopes": ["sync:read", "webhooks:manage"]}, token=admin)
    if status != 201:
        sys.exit(f"drill-shutdown: creating the integration client failed: {status} {client}")
    status, tok = call(p, "POST", "/api/v1/auth/token",
                       {"grant_type": "client_credentials", "client_id": client["client"]["client_id"],
                        "client_secret": client["client_secret"]})
    if status != 200:
        sys.exit(f"drill-shutdown: the integration token failed: {status} {tok}")
    ctx["integration"] = tok["access_token"]
    receiver = start_receiver()
    status, sub = call(p, "POST", "/api/v1/webhooks",
                       {"url": f"http://127.0.0.1:{receiver}/hook",
                        "event_types": ["message.created", "message.status_changed"]},
                       token=ctx["integration"])
    if status != 201:
        sys.exit(f"drill-shutdown: the webhook subscription failed: {status} {sub}")
    # The feed's end, so the long polls wait for the drill's own submissions.
    cursor = ""
    while True:
        status, page = call(p, "GET", f"/api/v1/sync/changes?limit=1000{'&after=' + cursor if cursor else ''}",
                            token=ctx["integration"])
        if status != 200:
            sys.exit(f"drill-shutdown: reading the change feed failed: {status} {page}")
        if not page.get("items") or not page.get("next_cursor"):
            break
        cursor = page["next_cursor"]
    ctx["cursor"] = cursor or "0.0"
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(60)
    log(f"setup done (webhook receiver on 127.0.0.1:{receiver}, feed cursor {ctx['cursor']})")
    return ctx


def main():
    rnd = random.Random(SEED)
    env = dict(os.environ)
    env.update(SERVER_ENV)
    os.makedirs(OUT, exist_ok=True)
    ctx = setup(env)
    results = []
    started = time.monotonic()
    for n in range(1, RUNS + 1):
        sig = signal.SIGINT if INT_EVERY and n % INT_EVERY == 0 else signal.SIGTERM
        # Some signals come at once (startup work still going on), most under steady load.
        delay = rnd.uniform(0.0, 0.3) if rnd.random() < 0.2 else rnd.uniform(0.3, MAX_DELAY)
        srv = Server(n, env)
        if not srv.wait_listening():
            rc = srv.proc.poll()
            results.append({"run": n, "outcome": "start-failed", "rc": rc})
            log(f"run {n}: the server did not start (status {rc}); log in {srv.dir}")
            if rc is None:
                srv.proc.kill()
                srv.proc.wait()
            continue
        load = Load(srv.port, ctx, rnd)
        load.start()
        time.sleep(delay)
        t0 = time.monotonic()
        srv.proc.send_signal(sig)
        try:
            rc = srv.proc.wait(HANG_SECS)
        except subprocess.TimeoutExpired:
            rc = None
        stop_s = time.monotonic() - t0
        load.finish()
        text = srv.log_text()
        r = {"run": n, "signal": sig.name, "delay_s": round(delay, 3), "stop_s": round(stop_s, 3), "rc": rc,
             "requests": sum(load.counts.values()), "counts": load.counts,
             # "still busy": the message before the fix.
             "incomplete": "shutdown incomplete" in text or "database threads still busy" in text,
             "complete": "shutdown complete" in text}
        if rc is None:
            r["outcome"] = "hang"
            srv.proc.kill()
            srv.proc.wait()
        elif rc == 0:
            r["outcome"] = "clean"
        elif rc < 0:
            r["outcome"] = "crash" if -rc in CRASH_SIGNALS else "killed"
            r["by"] = signal.Signals(-rc).name
        else:
            r["outcome"] = "error-exit"
        srv.log_file.close()
        if r["outcome"] == "clean":
            for f in os.listdir(srv.dir):
                os.unlink(os.path.join(srv.dir, f))
            os.rmdir(srv.dir)
        else:
            r["backtrace"] = gdb_backtrace(srv.dir)
            log(f"run {n}: {r['outcome'].upper()} {r.get('by', rc)} after {sig.name} "
                f"({delay:.2f} s of load, {r['requests']} requests); kept {srv.dir}")
        results.append(r)
        if n % 25 == 0:
            bad = sum(1 for x in results if x["outcome"] != "clean")
            log(f"{n}/{RUNS} runs, {bad} not clean, {time.monotonic() - started:.0f} s")

    by = {}
    for x in results:
        key = x["outcome"] + (f" {x['by']}" if "by" in x else "")
        by[key] = by.get(key, 0) + 1
    crashes = [x for x in results if x["outcome"] == "crash"]
    crash_by = {}
    for x in crashes:
        crash_by[x["by"]] = crash_by.get(x["by"], 0) + 1
    stops = sorted(x["stop_s"] for x in results if x["outcome"] == "clean")
    pct = lambda q: stops[min(len(stops) - 1, int(q * len(stops)))] if stops else 0
    summary = {
        "seed": SEED,
        "runs": len(results),
        "sigterm": sum(1 for x in results if x.get("signal") == "SIGTERM"),
        "sigint": sum(1 for x in results if x.get("signal") == "SIGINT"),
        "clean": by.get("clean", 0),
        "crashes": len(crashes),
        "crashes_by_signal": crash_by,
        "hangs": by.get("hang", 0),
        "error_exits": by.get("error-exit", 0),
        "other": {k: v for k, v in by.items() if not k.startswith(("clean", "crash", "hang", "error-exit"))},
        "requests": sum(x.get("requests", 0) for x in results),
        "incomplete": sum(1 for x in results if x.get("incomplete")),
        "stop_s_median": pct(0.5),
        "stop_s_p99": pct(0.99),
        "stop_s_max": stops[-1] if stops else 0,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump({"summary": summary, "runs": results}, f, indent=1)
    log(f"summary: runs={summary['runs']} (SIGTERM {summary['sigterm']}, SIGINT {summary['sigint']}) "
        f"clean={summary['clean']} crashes={summary['crashes']} {crash_by or ''} hangs={summary['hangs']} "
        f"error-exits={summary['error_exits']} other={summary['other'] or 0}; "
        f"{summary['requests']} requests; stop took median {summary['stop_s_median']:.2f} s, "
        f"p99 {summary['stop_s_p99']:.2f} s, max {summary['stop_s_max']:.2f} s; "
        f"shutdowns logged incomplete: {summary['incomplete']}; {summary['minutes']} min; seed {SEED}")
    return 0 if summary["clean"] == summary["runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
