#!/usr/bin/env bash
# bench/dispatch.sh - the dispatch benchmark of DESIGN.md §10.
#
# Starts `dmt serve` on a fresh SQLite database on loopback, creates through
# the API an environment and a job of 1,000 shell tasks whose script is
# `true` (not timed), then times one run of it: from the POST that creates
# the run to the end of its log followed with ?follow=1 (the server closes
# it when the run has ended; no polling delay), and reads its final status.
# In the same run, the baseline: a plain shell loop that starts
# `/bin/sh -c true` 1,000 times. Prints both and their ratio against the
# budget:  dmt / baseline <= 1.5.
# A benchmark reports, it does not gate: the exit status is 0 whatever the
# figures, and non-zero only when something could not run.
#
#   bash bench/dispatch.sh
#   TASKS=200 bash bench/dispatch.sh   tasks in the job (default 1000)
#   FOLLOW=0 bash bench/dispatch.sh  GET the run every 50 ms instead of
#                                    following its log (a follower costs
#                                    the server work on every log write)
#   Also: RUN_TIMEOUT (s to wait for the run, default 300); DMT_BIN=PATH
#   benchmarks that binary instead of building build/dmt with make.
#   Results also go to build/bench/dispatch.json.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

TASKS=${TASKS:-1000}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
FOLLOW=${FOLLOW:-1}

RATIO_MAX=1.5 # dmt run time over the shell loop's, at most

require_positive TASKS RUN_TIMEOUT
[[ $FOLLOW =~ ^[01]$ ]] || die "FOLLOW must be 0 or 1, not '$FOLLOW'"

# --- tools and binaries ------------------------------------------------------
bench_setup build curl awk

# --- helpers -------------------------------------------------------------------

# Creates N shell tasks named t-1..t-N running $2 in job $1, over one
# keep-alive connection (a curl config with one request per task).
create_tasks() {
    local job=$1 script=$2 n=$3 i cfg=$tmp/tasks.curl bad
    : >"$cfg"
    for i in $(seq "$n"); do
        printf '%s\n' "url = \"$base/api/v1/jobs/$job/tasks\"" 'request = "POST"' \
            "header = \"$auth\"" 'header = "Content-Type: application/json"' \
            "data = \"{\\\"name\\\":\\\"t-$i\\\",\\\"plugin\\\":\\\"shell\\\",\\\"variables\\\":{\\\"script\\\":\\\"$script\\\"}}\"" \
            'output = "/dev/null"' 'write-out = "%{http_code}\n"' 'max-time = 10' >>"$cfg"
        [ "$i" = "$n" ] || echo next >>"$cfg"
    done
    run_bg curl -sS -K "$cfg" >"$tmp/tasks.codes" || die "creating the tasks failed"
    bad=$(grep -vc '^201$' "$tmp/tasks.codes" || true)
    [ "$bad" = 0 ] && [ "$(wc -l <"$tmp/tasks.codes")" = "$n" ] || {
        sort "$tmp/tasks.codes" | uniq -c >&2
        die "creating the tasks: $bad answer(s) other than 201"
    }
}

# --- the baseline: a shell loop ------------------------------------------------
log "baseline: starting /bin/sh -c true $TASKS times"
/bin/sh -c true # warm the page cache
t0=$(now_ns)
for ((i = 0; i < TASKS; i++)); do /bin/sh -c true; done
t1=$(now_ns)
base_ms=$(((t1 - t0) / 1000000))

# --- dmt -----------------------------------------------------------------------
start_dmt
post /api/v1/environments '{"name":"bench"}'
post /api/v1/jobs '{"name":"dispatch"}'
log "dmt: creating $TASKS tasks (not timed)"
t_c0=$(now_ns)
create_tasks dispatch true "$TASKS"
t_c1=$(now_ns)
create_ms=$(((t_c1 - t_c0) / 1000000))
log "dmt: created $TASKS tasks in $create_ms ms"
sleep 1
rss_idle=$(rss_kb "$dmt_pid")

log "dmt: one run of the job (timeout ${RUN_TIMEOUT}s)"
t0=$(now_ns)
post /api/v1/jobs/dispatch/runs '{"environment":"bench"}'
run_path=$(post_location)
[ -n "$run_path" ] || die "POST /runs gave no Location"
if [ "$FOLLOW" = 1 ]; then
    # The log with ?follow=1 ends when the run has ended.
    run_bg curl -sS --max-time "$RUN_TIMEOUT" -H "$auth" -o "$tmp/run.log" "$base$run_path/log?follow=1" ||
        log "warning: following the log failed or timed out"
else
    # GET the run every 50 ms until it has ended (FOLLOW=0).
    end=$(($(date +%s) + RUN_TIMEOUT))
    while [ "$(date +%s)" -lt "$end" ]; do
        curl -sS --max-time 10 -o "$tmp/run.json" -H "$auth" "$base$run_path" || true
        [[ $(run_status "$tmp/run.json") =~ ^(succeeded|failed|canceled|interrupted)$ ]] && break
        sleep 0.05
    done
    curl -sS --max-time 30 -H "$auth" -o "$tmp/run.log" "$base$run_path/log" || true
fi
t1=$(now_ns)
code=$(curl -sS --max-time 10 -o "$tmp/run.json" -w '%{http_code}' -H "$auth" "$base$run_path") ||
    die "GET $run_path failed"
[ "$code" = 200 ] || die "GET $run_path answered $code"
status=$(run_status "$tmp/run.json")
# A follow that ended early (timeout) leaves the run running: wait a bit.
deadline=$(($(date +%s) + 10))
while ! [[ $status =~ ^(succeeded|failed|canceled|interrupted)$ ]] && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 0.1
    curl -sS --max-time 10 -o "$tmp/run.json" -H "$auth" "$base$run_path" || true
    status=$(run_status "$tmp/run.json")
    t1=$(now_ns)
done
dmt_ms=$(((t1 - t0) / 1000000))
ok_tasks=$(tasks_with "$tmp/run.json" succeeded)
log_bytes=$(wc -c <"$tmp/run.log")
rss_peak=$(rss_kb "$dmt_pid" VmHWM)
rss_after=$(rss_kb "$dmt_pid")
stop "$dmt_pid"
dmt_pid=

# --- report --------------------------------------------------------------------
ratio=$(awk -v a="$dmt_ms" -v b="$base_ms" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
per_task_dmt=$(awk -v a="$dmt_ms" -v n="$TASKS" 'BEGIN { printf "%.2f", a / n }')
per_task_base=$(awk -v a="$base_ms" -v n="$TASKS" 'BEGIN { printf "%.2f", a / n }')
v_ratio=$(verdict "$ratio <= $RATIO_MAX")
v_status=$([ "$status" = succeeded ] && [ "$ok_tasks" = "$TASKS" ] && echo PASS || echo FAIL)

echo
echo "Dispatch benchmark: one run of $TASKS \`true\` shell tasks, $(nproc) CPUs, end seen by $([ "$FOLLOW" = 1 ] && echo "following the log" || echo "GET every 50 ms")"
printf '%-36s %12s %12s\n' target "total" "per task"
printf '%-36s %9s ms %9s ms\n' "baseline (loop of /bin/sh -c true)" "$base_ms" "$per_task_base"
printf '%-36s %9s ms %9s ms\n' "dmt run (POST to end)" "$dmt_ms" "$per_task_dmt"
echo
printf '%-36s %14s %14s %s\n' check measured budget result
printf '%-36s %14s %14s %s\n' "ratio dmt/baseline (time)" "$ratio" "<= $RATIO_MAX" "$v_ratio"
printf '%-36s %14s %14s %s\n' "run status, tasks succeeded" "$status $ok_tasks" "succeeded $TASKS" "$v_status"
printf '%-36s %14s %14s %s\n' "creating $TASKS tasks (API)" "$create_ms ms" "-" "(info)"
printf '%-36s %14s %14s %s\n' "run log size" "$log_bytes B" "-" "(info)"
printf '%-36s %14s %14s %s\n' "dmt RSS before the run" "$(mb "$rss_idle")" "-" "(info)"
printf '%-36s %14s %14s %s\n' "dmt RSS after the run" "$(mb "$rss_after")" "-" "(info)"
printf '%-36s %14s %14s %s\n' "dmt peak RSS" "$(mb "$rss_peak")" "-" "(info)"

cat >build/bench/dispatch.json <<EOF
{"tasks": $TASKS, "cpus": $(nproc), "follow": $FOLLOW,
 "baseline_ms": $base_ms, "dmt_ms": $dmt_ms, "ratio": $ratio,
 "run_status": "$status", "tasks_succeeded": $ok_tasks, "create_tasks_ms": $create_ms,
 "log_bytes": $log_bytes, "rss_idle_kb": $rss_idle, "rss_after_kb": $rss_after, "rss_peak_kb": $rss_peak,
 "pass": {"ratio": "$v_ratio", "status": "$v_status"}}
EOF
exit 0
