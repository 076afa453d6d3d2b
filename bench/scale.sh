#!/usr/bin/env bash
# bench/scale.sh - the scale-out benchmark of issue 5.
#
# One-task runs completed per second with 1, 2 and 4 `dmt worker`s on
# PostgreSQL, and with the single SQLite node (`dmt serve` with its own
# executor), printed as a table.
#
# For each set-up, RUNS runs of a job with one shell task (`true`) are
# created through the API while no executor is running (not timed), so they
# all wait `queued`; then the executor(s) are started and the clock runs
# until every one of them has ended, read from the database every 50 ms.
#   PostgreSQL: a throw-away cluster (scripts/pg-test.sh), one API node
#     `dmt serve --no-executor`, then W workers `dmt worker`, a job per W.
#   SQLite: `dmt serve --no-executor` on a fresh file creates the runs, is
#     stopped, and `dmt serve` (with its executor) is started on the file.
# Every executor has --concurrency CONCURRENCY. The time includes starting
# the executor processes (a few ms).
# A benchmark reports, it does not gate: the exit status is 0 whatever the
# figures, and non-zero only when something could not run.
#
#   bash bench/scale.sh
#   RUNS=1000 WORKERS="1 2 4" CONCURRENCY=16 RUN_TIMEOUT=300 bash bench/scale.sh
#   DMT_BIN=PATH benchmarks that binary instead of building build/dmt.
#   Results also go to build/bench/scale.json.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=${RUNS:-1000}
WORKERS=${WORKERS:-1 2 4}
CONCURRENCY=${CONCURRENCY:-16}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
require_positive RUNS CONCURRENCY RUN_TIMEOUT
for w in $WORKERS; do [[ $w =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be positive integers, not '$w'"; done

bench_setup build curl awk psql sqlite3

# What this script starts on top of lib.sh's: workers and the cluster.
worker_pids=()
pgdir=
# shellcheck disable=SC2317 # reached through the trap
scale_cleanup() {
    local rc=$? p
    for p in ${worker_pids[@]+"${worker_pids[@]}"}; do stop "$p"; done
    [ -n "$pgdir" ] && bash scripts/pg-test.sh stop "$pgdir" >/dev/null 2>&1
    (exit "$rc")
    cleanup
}
trap scale_cleanup EXIT

# Starts `dmt serve` with the options given on a free port, the database
# $db, its folder $tmp/run (as cwd); waits for /healthz. Sets dmt_pid, base.
start_node() {
    local started="" attempt
    mkdir -p "$tmp/run"
    for attempt in 1 2 3; do
        port=$(free_port) || die "no free loopback port"
        base=http://127.0.0.1:$port
        log "dmt: starting serve --listen 127.0.0.1:$port --db $db $* (attempt $attempt)"
        (cd "$tmp/run" && exec env DMT_ADMIN_TOKEN="$TOKEN" DMT_MASTER_KEY="$MASTER_KEY" \
            "$DMT_BIN" serve --listen "127.0.0.1:$port" --db "$db" --data-dir "$tmp/run/data" "$@") \
            >>"$tmp/dmt.log" 2>&1 &
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
        kill -0 "$dmt_pid" 2>/dev/null && die "dmt serve did not answer /healthz within 15 s"
        wait "$dmt_pid" 2>/dev/null || true
        dmt_pid=
        grep -qi 'in use' "$tmp/dmt.log" || die "dmt serve exited at start"
    done
    die "dmt serve could not listen"
}

# Creates job $1 (one shell task `true`) and RUNS runs of it, over one
# keep-alive connection; dies unless each is answered 201.
create_runs() {
    local job=$1 cfg=$tmp/runs.curl i bad
    post /api/v1/jobs "{\"name\":\"$job\"}"
    post "/api/v1/jobs/$job/tasks" '{"name":"t","plugin":"shell","variables":{"script":"true"}}'
    : >"$cfg"
    for i in $(seq "$RUNS"); do
        printf '%s\n' "url = \"$base/api/v1/jobs/$job/runs\"" 'request = "POST"' \
            "header = \"$auth\"" 'header = "Content-Type: application/json"' \
            'data = "{\"environment\":\"bench\"}"' \
            'output = "/dev/null"' 'write-out = "%{http_code}\n"' 'max-time = 10' >>"$cfg"
        [ "$i" = "$RUNS" ] || echo next >>"$cfg"
    done
    run_bg curl -sS -K "$cfg" >"$tmp/runs.codes" || die "creating the runs failed"
    bad=$(grep -vc '^201$' "$tmp/runs.codes" || true)
    [ "$bad" = 0 ] && [ "$(wc -l <"$tmp/runs.codes")" = "$RUNS" ] || {
        sort "$tmp/runs.codes" | uniq -c >&2
        die "creating the runs: $bad answer(s) other than 201"
    }
}

# SQL on the database of the current set-up (sql_cmd is set per backend).
sql() { "${sql_cmd[@]}" "$1"; }
ended_sql() { echo "select count(*) from runs where job = '$1' and status in ('succeeded','failed','canceled','interrupted')"; }
ok_sql() { echo "select count(*) from runs where job = '$1' and status = 'succeeded'"; }

# Waits until the RUNS runs of job $1 have ended, at most RUN_TIMEOUT s from
# ns time $2; sets elapsed_ms and done_n.
wait_ended() {
    local job=$1 t0=$2 q deadline
    q=$(ended_sql "$job")
    deadline=$(($(date +%s) + RUN_TIMEOUT))
    done_n=0
    while [ "$(date +%s)" -lt "$deadline" ]; do
        done_n=$(sql "$q" 2>/dev/null || echo 0)
        [ "$done_n" = "$RUNS" ] && break
        sleep 0.05
    done
    elapsed_ms=$((($(now_ns) - t0) / 1000000))
    [ "$done_n" = "$RUNS" ] || log "warning: only $done_n of $RUNS runs ended within ${RUN_TIMEOUT}s"
}

rows=()
json_rows=()
record() { # record LABEL WORKERS JOB
    local ok rate
    ok=$(sql "$(ok_sql "$3")" 2>/dev/null || echo 0)
    rate=$(awk -v n="$done_n" -v ms="$elapsed_ms" 'BEGIN { printf "%.1f", (ms > 0 ? n * 1000 / ms : 0) }')
    rows+=("$(printf '%-12s %8s %8s %10s %10s %12s' "$1" "$2" "$RUNS" "$ok" "$elapsed_ms" "$rate")")
    json_rows+=("{\"backend\": \"$1\", \"executors\": $2, \"runs\": $RUNS, \"succeeded\": $ok, \"ms\": $elapsed_ms, \"runs_per_s\": $rate}")
    log "$1 x$2: $ok/$RUNS succeeded in $elapsed_ms ms ($rate runs/s)"
}

# --- PostgreSQL: one API node, 1, 2, 4 workers -------------------------------------
pgdir=$(mktemp -d /tmp/dmt-pg-XXXXXX)
log "postgres: starting a throw-away cluster"
url=$(bash scripts/pg-test.sh start "$pgdir") || die "the PostgreSQL cluster did not start"
db=$url
sql_cmd=(psql "$url" -qAt -c)
start_node --no-executor
post /api/v1/environments '{"name":"bench"}'
for w in $WORKERS; do
    job=scale-pg-$w
    log "postgres: creating $RUNS runs of $job (not timed)"
    create_runs "$job"
    worker_pids=()
    t0=$(now_ns)
    for i in $(seq "$w"); do
        mkdir -p "$tmp/w$i"
        (cd "$tmp/w$i" && exec env DMT_MASTER_KEY="$MASTER_KEY" "$DMT_BIN" worker --db "$url" \
            --concurrency "$CONCURRENCY" --data-dir "$tmp/w$i/data") >>"$tmp/worker$i.log" 2>&1 &
        worker_pids+=($!)
    done
    wait_ended "$job" "$t0"
    for p in "${worker_pids[@]}"; do stop "$p"; done
    worker_pids=()
    record postgres "$w" "$job"
done
stop "$dmt_pid"
dmt_pid=
bash scripts/pg-test.sh stop "$pgdir" >/dev/null 2>&1 || true
pgdir=

# --- SQLite: the single node -----------------------------------------------------------
db=sqlite:$tmp/run/scale.db
sql_cmd=(sqlite3 -cmd '.timeout 5000' "$tmp/run/scale.db")
job=scale-sqlite
start_node --no-executor
post /api/v1/environments '{"name":"bench"}'
log "sqlite: creating $RUNS runs of $job (not timed)"
create_runs "$job"
stop "$dmt_pid"
dmt_pid=
t0=$(now_ns)
start_node --concurrency "$CONCURRENCY"
wait_ended "$job" "$t0"
stop "$dmt_pid"
dmt_pid=
record sqlite 1 "$job"

# --- report ------------------------------------------------------------------------------
echo
echo "Scale benchmark: $RUNS one-task runs (\`true\`), executors with --concurrency $CONCURRENCY, $(nproc) CPUs"
printf '%-12s %8s %8s %10s %10s %12s\n' backend executors runs succeeded ms "runs/s"
printf '%s\n' "${rows[@]}"
{
    echo "{\"runs\": $RUNS, \"concurrency\": $CONCURRENCY, \"cpus\": $(nproc), \"results\": ["
    (
        IFS=,
        echo "${json_rows[*]}"
    )
    echo "]}"
} >build/bench/scale.json
exit 0
