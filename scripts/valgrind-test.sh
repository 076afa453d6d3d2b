#!/usr/bin/env bash
# scripts/valgrind-test.sh - dmt under valgrind (memcheck), `make valgrind`,
# part of `make test`.
#
# The ASan build runs every test; this checks the normal build (-O2, the
# binary people run) with valgrind on the paths a server takes every day:
#   - `dmt serve` on SQLite: API reads and writes, a run with its log
#     followed, a run waiting for a worker tag, /workers, a clean stop;
#   - on a throw-away PostgreSQL: `dmt serve --no-executor` and `dmt worker
#     --tags t` (the node link, claims with tags, log follow across nodes),
#     both stopped cleanly.
# Each process must end with no memcheck error and no definite leak
# (--error-exitcode). Prints `N passed, M failed`; non-zero on a failure.
#
#   bash scripts/valgrind-test.sh          DMT_BIN=build/dmt by default
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 1
root=$PWD
DMT_BIN=${DMT_BIN:-$root/build/dmt}
for t in valgrind curl python3; do
    command -v "$t" >/dev/null || {
        echo "valgrind-test: $t is missing" >&2
        exit 1
    }
done

passed=0
failed=0
check() { # check NAME STATUS [DETAIL]
    if [ "$2" = 0 ]; then
        passed=$((passed + 1))
        echo "ok   - $1${3:+ ($3)}"
    else
        failed=$((failed + 1))
        echo "FAIL - $1${3:+ ($3)}"
    fi
}

tmp=$(mktemp -d /tmp/dmt-vg-XXXXXX)
pgdir=
pids=()
cleanup() {
    trap - EXIT
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    [ -n "$pgdir" ] && bash "$root/scripts/pg-test.sh" stop "$pgdir"
    if [ "$failed" != 0 ]; then
        for f in "$tmp"/*.vg; do
            echo "--- $(basename "$f")" >&2
            grep -E '^==[0-9]+== ' "$f" | tail -n 30 >&2
        done
    fi
    rm -rf "$tmp"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
trap 'cleanup; exit $?' EXIT

export DMT_ADMIN_TOKEN=valgrind-admin-token-0123456789abcdef
export DMT_MASTER_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
auth="Authorization: Bearer $DMT_ADMIN_TOKEN"
api() { curl -sS --max-time 30 -f -H "$auth" -H 'Content-Type: application/json' "$@"; }
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }

# vg NAME ARGS...: starts dmt ARGS under valgrind in $tmp/NAME; pid in $vpid.
vg() {
    local name=$1
    shift
    mkdir -p "$tmp/$name"
    (cd "$tmp/$name" && exec valgrind -q --error-exitcode=9 --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --log-file="$tmp/$name.vg" "$DMT_BIN" "$@") >"$tmp/$name.log" 2>&1 &
    vpid=$!
    pids+=("$vpid")
}

# up PORT: waits (valgrind is slow to start) for /healthz.
up() {
    for _ in $(seq 300); do
        curl -fsS --max-time 1 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# stop PID NAME: SIGTERM, wait, check the exit status (9: memcheck errors).
stop() {
    kill -TERM "$1" 2>/dev/null
    wait "$1"
    local rc=$?
    local errs
    errs=$(grep -c '^==[0-9]*== [A-Z]' "$tmp/$2.vg" 2>/dev/null)
    check "$2 stops cleanly with no memcheck error or definite leak" "$rc" \
        "exit $rc, $errs valgrind lines"
}

port() { echo $((20000 + RANDOM % 40000)); }

# A job with one shell task, a run followed to its end, a run that waits.
exercise() { # exercise BASE LABEL TAG
    local b=$1
    api -X POST "$b/environments" -d '{"name":"dev"}' >/dev/null
    api -X POST "$b/environments" -d "{\"name\":\"tagged\",\"worker_tags\":[\"$3\"]}" >/dev/null
    api -X POST "$b/environments" -d '{"name":"nowhere","worker_tags":["none-has-it"]}' >/dev/null
    api -X POST "$b/jobs" -d '{"name":"j"}' >/dev/null
    api -X POST "$b/jobs/j/tasks" \
        -d '{"name":"t","plugin":"shell","variables":{"script":"echo hello $DMT_RUN_ID; echo oops >&2"}}' >/dev/null
    api "$b/jobs/j/workflow" >/dev/null
    api "$b/jobs/j/plan?environment=dev" >/dev/null
    local id log
    id=$(api -X POST "$b/jobs/j/runs" -d '{"environment":"tagged"}' | json 'd["id"]')
    log=$(api "$b/runs/$id/log?follow=1")
    echo "$log" | grep -q "hello $id"
    check "$2: a run's log followed to its end" $? "run $id"
    id=$(api -X POST "$b/jobs/j/runs" -d '{"environment":"nowhere"}' | json 'd["id"]')
    api "$b/runs/$id" | json 'd["queued_reason"]' | grep -q none-has-it
    check "$2: a run waiting for a tag says why" $?
    api -X POST "$b/runs/$id/cancel" >/dev/null
    api "$b/events?after=0" --max-time 1 >/dev/null 2>&1 # a stream, cut after 1 s
    api "$b/workers" >/dev/null && api "$b/runs?limit=10" >/dev/null &&
        api -X PATCH "$b/environments/tagged" -d '{"worker_tags":[]}' >/dev/null
    check "$2: reads and writes answered" $?
}

# --- SQLite: one process ---------------------------------------------------------
p=$(port)
vg sqlite serve --listen "127.0.0.1:$p" --db sqlite:./dmt.db --tags t1 --lease 6
up "$p"
check "dmt serve (SQLite) under valgrind answers" $?
exercise "http://127.0.0.1:$p/api/v1" sqlite t1
stop "$vpid" sqlite

# --- PostgreSQL: an API node and a worker ------------------------------------------
pgdir=$(mktemp -d /tmp/dmt-pg-XXXXXX)
url=$(bash scripts/pg-test.sh start "$pgdir")
check "PostgreSQL cluster started" $?
p=$(port)
vg api serve --no-executor --listen "127.0.0.1:$p" --db "$url"
api_pid=$vpid
up "$p"
check "dmt serve --no-executor (PostgreSQL) under valgrind answers" $?
vg worker worker --db "$url" --tags t2 --lease 6
worker_pid=$vpid
sleep 3
exercise "http://127.0.0.1:$p/api/v1" postgres t2
stop "$worker_pid" worker
stop "$api_pid" api
