# shellcheck shell=bash
# A throwaway database and a liuyan server on it, for the scripts that test a live server
# (scripts/schemathesis, scripts/client-scenario). Source it after `cd` to the repository root;
# it defines functions only.
#
#   live_init NAME RUN_DIR BIN   NAME prefixes messages and the database (liuyan_NAME_<time>_<n>)
#   live_create_db               pick a PostgreSQL server, create a fresh database, export
#                                DATABASE_URL pointing at it, load the demo data
#   live_start_server            start BIN serve on a free port with raised rate limits; sets
#                                LIVE_BASE_URL and LIVE_SERVER_PID, log in RUN_DIR/server.log
#   live_cleanup                 stop the server, drop the database (kept when LIVE_KEEP_DB=1)
#
# Database: a new database on
#   - the server of DATABASE_URL when that is set (its user must be allowed to CREATE DATABASE);
#   - else the PostgreSQL on 127.0.0.1:5432 when it accepts user postgres (or $USER) without a
#     password and LIUYAN_LOCAL_DB is not `private`: the same choice as the liuyan binary;
#   - else liuyan's private cluster (LIUYAN_DATA_DIR, default ./.liuyan; port LIUYAN_LOCAL_DB_PORT,
#     default 54329), started by `liuyan migrate` when it is not running.
# The server under test gets DATABASE_URL pointing at that database, so it never touches the
# `liuyan` development database. Needs psql (scripts/ensure-deps installs it).

live_init() {
    LIVE_NAME=$1
    LIVE_RUN_DIR=$2
    LIVE_BIN=$3
    LIVE_SERVER_PID=""
    LIVE_BASE_URL=""
    LIVE_DB_CREATED=0
    LIVE_DB_NAME=""
    LIVE_ADMIN_DB=""
    mkdir -p "$LIVE_RUN_DIR"
}

_live_say() { echo "$LIVE_NAME: $*"; }
_live_die() { echo "$LIVE_NAME: ERROR: $*" >&2; exit 1; }

live_create_db() {
    command -v psql >/dev/null 2>&1 || _live_die "psql not found: run scripts/ensure-deps"
    export PGCONNECT_TIMEOUT=3
    local query="" server="" no_query user
    _live_can_connect() { psql -w -X -q -tA -d "$1" -c 'SELECT 1' >/dev/null 2>&1; }
    if [[ -n "${DATABASE_URL:-}" ]]; then
        no_query=${DATABASE_URL%%\?*}
        query=${DATABASE_URL#"$no_query"}
        server=${no_query%/*}
        _live_say "using the server of DATABASE_URL"
    else
        # The same choice as the liuyan binary (src/db/local.rs): a server on 127.0.0.1:5432 that
        # accepts user postgres (or $USER) unless LIUYAN_LOCAL_DB=private, else the private cluster.
        if [[ "${LIUYAN_LOCAL_DB:-auto}" != private ]]; then
            for user in postgres ${USER:-}; do
                if _live_can_connect "postgres://$user@127.0.0.1:5432/postgres"; then
                    server="postgres://$user@127.0.0.1:5432"
                    break
                fi
            done
        fi
        if [[ -z "$server" ]]; then
            server="postgres://liuyan@127.0.0.1:${LIUYAN_LOCAL_DB_PORT:-54329}"
            if ! _live_can_connect "$server/postgres"; then
                _live_say "starting liuyan's private PostgreSQL cluster (liuyan migrate)"
                if ! "$LIVE_BIN" migrate >"$LIVE_RUN_DIR/migrate.log" 2>&1; then
                    # As root the cluster runs as user postgres, which must reach the data folder.
                    if [[ $(id -u) -eq 0 && -z "${LIUYAN_DATA_DIR:-}" ]]; then
                        export LIUYAN_DATA_DIR=/var/tmp/liuyan-$LIVE_NAME
                        _live_say "retrying with LIUYAN_DATA_DIR=$LIUYAN_DATA_DIR"
                        "$LIVE_BIN" migrate >"$LIVE_RUN_DIR/migrate.log" 2>&1 ||
                            { cat "$LIVE_RUN_DIR/migrate.log"; _live_die "cannot start a database"; }
                    else
                        cat "$LIVE_RUN_DIR/migrate.log"
                        _live_die "cannot start a database"
                    fi
                fi
            fi
        fi
        _live_say "using the PostgreSQL server at ${server#postgres://}"
    fi
    LIVE_ADMIN_DB="$server/postgres$query"
    LIVE_DB_NAME="liuyan_${LIVE_NAME//[^a-z0-9]/_}_$(date +%Y%m%d%H%M%S)_$RANDOM"
    psql -w -X -q -d "$LIVE_ADMIN_DB" -c "CREATE DATABASE \"$LIVE_DB_NAME\"" >/dev/null ||
        _live_die "cannot create database $LIVE_DB_NAME on ${server#postgres://}"
    LIVE_DB_CREATED=1
    export DATABASE_URL="$server/$LIVE_DB_NAME$query"
    _live_say "created database $LIVE_DB_NAME"
    "$LIVE_BIN" seed-demo >"$LIVE_RUN_DIR/seed.log" 2>&1 ||
        { cat "$LIVE_RUN_DIR/seed.log"; _live_die "liuyan seed-demo failed"; }
    _live_say "demo data loaded"
}

live_start_server() {
    local log=$LIVE_RUN_DIR/server.log
    (
        export LIUYAN_HOST=127.0.0.1 LIUYAN_PORT=0 LIUYAN_PROFILE=development \
            LIUYAN_RATE_PER_SECOND=1000000 LIUYAN_RATE_BURST=1000000 LIUYAN_INTAKE_PER_HOUR=0 LIUYAN_INTAKE_PER_DAY=0 LIUYAN_AUTH_RATE_PER_MINUTE=1000000 \
            LIUYAN_ACCESS_TOKEN_TTL=7200 LIUYAN_LOG_FORMAT=json LIUYAN_LOG="${LIUYAN_LOG:-info}"
        exec "$LIVE_BIN" serve
    ) >"$log" 2>&1 &
    LIVE_SERVER_PID=$!
    LIVE_BASE_URL=""
    for _ in $(seq 1 600); do
        LIVE_BASE_URL=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -1 | sed 's/^listening on //' || true)
        [[ -n "$LIVE_BASE_URL" ]] && break
        kill -0 "$LIVE_SERVER_PID" 2>/dev/null || { tail -30 "$log"; _live_die "the server exited at start"; }
        sleep 0.1
    done
    [[ -n "$LIVE_BASE_URL" ]] || { tail -30 "$log"; _live_die "the server did not start within 60 s"; }
    _live_say "server at $LIVE_BASE_URL (pid $LIVE_SERVER_PID, log $log)"
}

live_cleanup() {
    if [[ -n "${LIVE_SERVER_PID:-}" ]] && kill -0 "$LIVE_SERVER_PID" 2>/dev/null; then
        _live_say "stopping the server (pid $LIVE_SERVER_PID)"
        kill -TERM "$LIVE_SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$LIVE_SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$LIVE_SERVER_PID" 2>/dev/null || true
        wait "$LIVE_SERVER_PID" 2>/dev/null || true
    fi
    if ((${LIVE_DB_CREATED:-0})); then
        if [[ "${LIVE_KEEP_DB:-0}" == 1 ]]; then
            _live_say "kept database $LIVE_DB_NAME"
        else
            psql -w -X -q -d "$LIVE_ADMIN_DB" -c "DROP DATABASE IF EXISTS \"$LIVE_DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
                _live_say "could not drop database $LIVE_DB_NAME"
        fi
        LIVE_DB_CREATED=0
    fi
}
