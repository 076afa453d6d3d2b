# bench/lib.sh - what the benchmark scripts of bench/ share; sourced by each,
# from the top of the work tree (the script has done `cd` there), after
# `set -euo pipefail` and `export LC_ALL=C`.
#
# Gives: the token and master key dmt is started with, log/die, the cleanup
# trap (bench_setup), a free loopback port, `dmt serve` started and waited
# for (start_dmt), POSTs with the bearer token, RSS readings from
# /proc/PID/status, and small helpers for the reports.
# shellcheck shell=bash

root=$PWD

TOKEN=bench-token-0123456789abcdef
auth="Authorization: Bearer $TOKEN"
# A fixed master key, so that dmt creates no key file anywhere.
MASTER_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

# What the trap stops, by pid; a script sets those it starts.
tmp=
dmt_pid=
mhd_pid=
child_pid=
sampler_pid=

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Dies unless each variable named is a positive integer.
require_positive() {
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
    done
}

# Stops what this script started, by pid: SIGTERM, then SIGKILL after 5 s.
stop() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop "$sampler_pid"
    stop "$child_pid"
    stop "$mhd_pid"
    stop "$dmt_pid"
    if [ "$rc" != 0 ] && [ -n "$tmp" ] && [ -s "$tmp/dmt.log" ]; then
        log "last lines of the dmt log:"
        tail -n 30 "$tmp/dmt.log" >&2
    fi
    [ -n "$tmp" ] && rm -rf "$tmp"
    exit "$rc"
}

# Sets the trap, checks the tools ($1: the scripts/deps.sh set, then the
# commands needed), builds build/dmt unless DMT_BIN names a binary (made
# absolute), makes build/bench and the temporary folder $tmp.
bench_setup() {
    local deps=$1 t
    shift
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    bash scripts/deps.sh "$deps"
    for t in "$@"; do
        command -v "$t" >/dev/null || die "$t is missing"
    done
    if [ -z "${DMT_BIN:-}" ]; then
        make --no-print-directory -s build/dmt || die "make build/dmt failed"
        DMT_BIN=$root/build/dmt
    fi
    # dmt runs in a folder of its own: make the path absolute.
    case $DMT_BIN in
    /*) ;;
    */*) DMT_BIN=$root/$DMT_BIN ;;
    *) DMT_BIN=$(command -v "$DMT_BIN") || die "no $DMT_BIN on the PATH" ;;
    esac
    [ -x "$DMT_BIN" ] || die "no dmt binary at $DMT_BIN"

    mkdir -p build/bench
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmt-bench.XXXXXX")
}

# Prints a loopback TCP port that nothing listens on now.
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Prints VmRSS (or another field given as $2) of a process in kB.
rss_kb() { awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status"; }

# Prints a kB figure as MB with one decimal.
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

# Monotonic-enough wall clock in ns.
now_ns() { date +%s%N; }

# An RFC 3339 time as ms since the epoch (empty for null or nothing).
ts_ms() { [ -n "$1" ] && date -d "$1" +%s%3N 2>/dev/null || true; }

# Writes the VmRSS of process $1 in kB to file $2 every 100 ms, one line
# each, until the process ends. Run it in the background.
sample_rss() {
    while kill -0 "$1" 2>/dev/null; do
        awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || true
        sleep 0.1
    done >"$2"
}

# Prints the min and max of a column of numbers ("- -" when empty).
min_max() { awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 } END { if (NR) print lo, hi; else print "- -" }' "$1"; }

# Prints PASS when the awk condition $1 holds, else FAIL.
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }

# Runs a command in the background and waits for it, so that a signal to
# this script is acted on at once (bash defers traps while a foreground
# command runs) and the trap can stop the command.
run_bg() {
    local rc=0
    "$@" &
    child_pid=$!
    wait "$child_pid" || rc=$?
    child_pid=
    return "$rc"
}

# Starts `dmt serve` (extra options follow) on a free loopback port with a
# fresh database in $tmp/run; sets dmt_pid, port and base. With
# serve_plain=1 (bench/api.sh) it passes no --data-dir.
start_dmt() {
    local started="" shown=" $*" opts=(--data-dir "$tmp/run/data")
    if [ -n "${serve_plain:-}" ]; then
        shown=
        opts=()
    fi
    mkdir -p "$tmp/run"
    for attempt in 1 2 3; do
        port=$(free_port) || die "no free loopback port"
        base=http://127.0.0.1:$port
        log "dmt: starting $DMT_BIN serve --listen 127.0.0.1:$port$shown (attempt $attempt)"
        # Its own folder as cwd and a fixed key: nothing lands in the work tree.
        (cd "$tmp/run" && exec env DMT_ADMIN_TOKEN="$TOKEN" DMT_MASTER_KEY="$MASTER_KEY" \
            "$DMT_BIN" serve --listen "127.0.0.1:$port" --db "sqlite:$tmp/run/dmt.db" \
            ${opts[@]+"${opts[@]}"} "$@") >"$tmp/dmt.log" 2>&1 &
        dmt_pid=$!
        for _ in $(seq 150); do # 15 s
            kill -0 "$dmt_pid" 2>/dev/null || break
            if curl -fsS --max-time 1 "$base/healthz" >/dev/null 2>&1; then
                started=1
                break
            fi
            sleep 0.1
        done
        [ -n "$started" ] && return 0
        if kill -0 "$dmt_pid" 2>/dev/null; then
            die "dmt serve did not answer /healthz within 15 s"
        fi
        wait "$dmt_pid" 2>/dev/null || true
        dmt_pid=
        # Another process may have taken the port in between: try another one.
        grep -qi 'in use' "$tmp/dmt.log" || die "dmt serve exited at start"
    done
    die "dmt serve could not listen"
}

# POSTs a JSON body to a path; dies unless the answer is 201. The answer
# stays in $tmp/post.out, its headers in $tmp/post.hdr.
post() {
    local path=$1 body=$2 code
    code=$(curl -sS --max-time 10 -o "$tmp/post.out" -D "$tmp/post.hdr" -w '%{http_code}' \
        -X POST -H "$auth" -H 'Content-Type: application/json' --data "$body" \
        "$base$path") || die "POST $path failed"
    [ "$code" = 201 ] || {
        cat "$tmp/post.out" >&2
        echo >&2
        die "POST $path answered $code, not 201"
    }
}

# Prints the Location of the last post (the path of what it created).
post_location() { awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }' "$tmp/post.hdr"; }

# The top-level "status" of a run representation (the tasks' are cut off).
run_status() {
    tr -d '\n' <"$1" | sed 's/"tasks" *:.*//' | grep -o '"status" *: *"[a-z]*"' | awk 'NR == 1' |
        sed 's/.*"\([a-z]*\)"$/\1/'
}

# The number of tasks of a run representation in status $2.
tasks_with() {
    tr -d '\n' <"$1" | awk -v want="$2" '{
        i = index($0, "\"tasks\""); j = index($0, "\"snapshot\"")
        s = (i > 0 && j > i) ? substr($0, i, j - i) : (i > 0 ? substr($0, i) : "")
        print gsub("\"status\" *: *\"" want "\"", "", s)
    }'
}
