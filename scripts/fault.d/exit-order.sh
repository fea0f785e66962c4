#!/usr/bin/env bash
# Which thread closes which database connection, relative to exit()? One start/load/SIGTERM of
# BIN under gdb, with breakpoints on libpq's PQfinish and on exit(); prints each in order with
# the thread that made it. A PQfinish after exit(), or a database thread still alive at exit(),
# is the race behind the SIGSEGV at exit (docs/RELIABILITY.md, "Shutdown").
#
#   DATABASE_URL=postgres://…/db scripts/fault.d/exit-order.sh BIN [PORT]
#
# The database needs the demo data (`BIN seed-demo`). Needs gdb and curl; loopback only.
set -euo pipefail
bin=$1
port=${2:-18977}
: "${DATABASE_URL:?set DATABASE_URL to a database with the demo data}"
work=$(mktemp -d /tmp/liuyan-exit-order.XXXXXX)
cat >"$work/cmds.gdb" <<'GDB'
set pagination off
set confirm off
handle SIGTERM nostop noprint pass
handle SIGPIPE nostop noprint pass
set breakpoint pending on
break PQfinish
commands
silent
printf "== PQfinish\n"
info threads
continue
end
break exit
commands
silent
printf "== exit()\n"
info threads
continue
end
run
GDB
LIUYAN_HOST=127.0.0.1 LIUYAN_PORT=$port LIUYAN_SCHEDULER_INTERVAL_SECS=1 LIUYAN_STATS_FOLD_INTERVAL_MS=50 \
    gdb -batch -nx -x "$work/cmds.gdb" --args "$bin" serve >"$work/gdb.out" 2>&1 &
gdb_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.3; done
for _ in $(seq 40); do
    curl -s "http://127.0.0.1:$port/api/v1/units" >/dev/null &
    curl -s "http://127.0.0.1:$port/readyz" >/dev/null &
done
sleep 0.3
# The server is gdb's child (gdb execs it): signal it by its id.
kill -TERM "$(pgrep -P "$gdb_pid")"
wait
python3 - "$work/gdb.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
events = re.findall(r'== (PQfinish|exit\(\))\n((?:  .*\n|\* .*\n)+)', text)
after_exit = False
for kind, threads in events:
    current = re.search(r'^\* +\d+ +Thread \S+ \(LWP \d+\) "([^"]+)"', threads, re.M).group(1)
    alive = re.findall(r'\(LWP \d+\) "([^"]+)"', threads)
    if kind == "exit()":
        after_exit = True
        print(f"exit() by {current}; threads still alive: {', '.join(t for t in alive if t != current)}")
    else:
        print(f"PQfinish by {current}{'   <-- after exit()' if after_exit else ''}")
PY
echo "(gdb transcript: $work/gdb.out)"
