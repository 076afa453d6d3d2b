#!/usr/bin/env bash
# bench/concurrency.sh - the concurrent runs benchmark of DESIGN.md §10.
#
# Starts `dmt serve --concurrency 250` on a fresh SQLite database on
# loopback, creates through the API an environment and a job of one shell
# task `sleep 5`, then starts 200 runs of it as fast as it can (one curl,
# a few parallel keep-alive connections). Samples the server's RSS every
# 100 ms and the /metrics gauge dmt_runs_in_progress until every run has
# ended (no run queued, then none running, asked every 100 ms). Prints the
# peak RSS against the budget (< 50 MB with 200 sleeping runs) and the time
# from the first POST until all have ended (ideal: the sleep plus overhead).
# A benchmark reports, it does not gate: the exit status is 0 whatever the
# figures, and non-zero only when something could not run.
#
#   bash bench/concurrency.sh
#   RUNS=50 bash bench/concurrency.sh   runs started (default 200)
#   Also: SLEEP (s each task sleeps, default 5), CONCURRENCY (the server's
#   --concurrency, default 250), PARALLEL (connections used to start the
#   runs, default 4), RUN_TIMEOUT (s to wait for all, default 120);
#   DMT_BIN=PATH benchmarks that binary instead of building build/dmt.
#   Results also go to build/bench/concurrency.json.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=${RUNS:-200}
SLEEP=${SLEEP:-5}
CONCURRENCY=${CONCURRENCY:-250}
PARALLEL=${PARALLEL:-4}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}

RSS_MAX_KB=$((50 * 1024)) # peak RSS with all the runs going, below

require_positive RUNS SLEEP CONCURRENCY PARALLEL RUN_TIMEOUT

# --- tools and binaries ------------------------------------------------------
bench_setup build curl awk

# --- helpers -------------------------------------------------------------------

# Counts the runs in a GET /api/v1/runs answer (one "triggered_by" each).
count_runs() { grep -o '"triggered_by"' "$1" | wc -l; }

# Prints the value of a /metrics sample named $1 from $tmp/metrics (or empty).
metric() { awk -v n="$1" '$1 == n { print $2; exit }' "$tmp/metrics"; }

# --- dmt -----------------------------------------------------------------------
start_dmt --concurrency "$CONCURRENCY"
post /api/v1/environments '{"name":"bench"}'
post /api/v1/jobs '{"name":"sleepy"}'
post /api/v1/jobs/sleepy/tasks "{\"name\":\"sleep\",\"plugin\":\"shell\",\"variables\":{\"script\":\"sleep $SLEEP\"}}"
cfg=$tmp/runs.curl
: >"$cfg"
for i in $(seq "$RUNS"); do
    printf '%s\n' "url = \"$base/api/v1/jobs/sleepy/runs\"" 'request = "POST"' \
        "header = \"$auth\"" 'header = "Content-Type: application/json"' \
        'data = "{\"environment\":\"bench\"}"' \
        'output = "/dev/null"' 'write-out = "%{http_code}\n"' 'max-time = 30' >>"$cfg"
    [ "$i" = "$RUNS" ] || echo next >>"$cfg"
done
sleep 1
rss_before=$(rss_kb "$dmt_pid")

sample_rss "$dmt_pid" "$tmp/rss" &
sampler_pid=$!
log "dmt: starting $RUNS runs of \`sleep $SLEEP\` ($PARALLEL connections)"
t0=$(now_ns)
run_bg curl -sS --parallel --parallel-max "$PARALLEL" -K "$cfg" >"$tmp/runs.codes" 2>"$tmp/runs.err" || {
    grep -i 'curl:' "$tmp/runs.err" | sort | uniq -c >&2 || true
    log "warning: curl reported errors starting the runs"
}
t1=$(now_ns)
post_ms=$(((t1 - t0) / 1000000))
created=$(grep -c '^201$' "$tmp/runs.codes" || true)
[ "$created" = "$RUNS" ] || {
    sort "$tmp/runs.codes" | uniq -c >&2
    log "warning: $created of $RUNS runs created (answers above)"
}
[ "$created" -gt 0 ] || die "no run could be created"

# Until none is queued, then none running: every 100 ms.
log "dmt: waiting for the runs to end (timeout ${RUN_TIMEOUT}s)"
end=$(($(date +%s) + RUN_TIMEOUT))
max_inprog=0
rss_at_max=$rss_before
fds_at_max=0
done_ok=
t_all_running=
while [ "$(date +%s)" -lt "$end" ]; do
    if curl -sS --max-time 5 -o "$tmp/metrics" -H "$auth" "$base/metrics" 2>/dev/null; then
        inprog=$(metric dmt_runs_in_progress)
        if [ -n "$inprog" ] && [ "$inprog" -gt "$max_inprog" ]; then
            max_inprog=$inprog
            rss_at_max=$(rss_kb "$dmt_pid")
            fds_at_max=$(find "/proc/$dmt_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
            [ "$inprog" -ge "$created" ] && [ -z "$t_all_running" ] && t_all_running=$(now_ns)
        fi
    fi
    curl -sS --max-time 5 -o "$tmp/queued.json" -H "$auth" "$base/api/v1/runs?job=sleepy&status=queued&limit=1" || true
    if [ "$(count_runs "$tmp/queued.json")" = 0 ] && grep -q '"items"' "$tmp/queued.json"; then
        curl -sS --max-time 5 -o "$tmp/running.json" -H "$auth" "$base/api/v1/runs?job=sleepy&status=running&limit=1" || true
        if [ "$(count_runs "$tmp/running.json")" = 0 ] && grep -q '"items"' "$tmp/running.json"; then
            done_ok=1
            break
        fi
    fi
    sleep 0.1
done
t2=$(now_ns)
all_ms=$(((t2 - t0) / 1000000))
[ -n "$done_ok" ] || log "warning: the runs did not all end within ${RUN_TIMEOUT}s"
all_running_ms=-1
[ -n "$t_all_running" ] && all_running_ms=$(((t_all_running - t0) / 1000000))
sleep 0.3
stop "$sampler_pid"
sampler_pid=
read -r rss_min rss_max < <(min_max "$tmp/rss")
samples=$(wc -l <"$tmp/rss")
[ "$rss_max" = - ] && rss_min=$rss_before rss_max=$rss_before
hwm=$(rss_kb "$dmt_pid" VmHWM)
rss_after=$(rss_kb "$dmt_pid")

code=$(curl -sS --max-time 30 -o "$tmp/ok.json" -w '%{http_code}' -H "$auth" \
    "$base/api/v1/runs?job=sleepy&status=succeeded&limit=500") || die "GET /api/v1/runs failed"
[ "$code" = 200 ] || die "GET /api/v1/runs answered $code"
succeeded=$(count_runs "$tmp/ok.json")
# The span the server saw: first created_at to last finished_at.
# (RFC 3339 UTC times of one format sort as strings.)
first_created=$(grep -o '"created_at" *: *"[^"]*"' "$tmp/ok.json" | sed 's/.*: *"//; s/"$//' |
    awk 'NR == 1 || $0 < m { m = $0 } END { print m }')
last_finished=$(grep -o '"finished_at" *: *"[^"]*"' "$tmp/ok.json" | sed 's/.*: *"//; s/"$//' |
    awk '$0 > m { m = $0 } END { print m }')
span_ms=-1
if [ -n "$first_created" ] && [ -n "$last_finished" ]; then
    a=$(ts_ms "$first_created")
    b=$(ts_ms "$last_finished")
    [ -n "$a" ] && [ -n "$b" ] && span_ms=$((b - a))
fi
stop "$dmt_pid"
dmt_pid=

# --- report --------------------------------------------------------------------
secs() { awk -v ms="$1" 'BEGIN { if (ms < 0) print "-"; else printf "%.2f s", ms / 1000 }'; }
v_rss=$(verdict "$rss_max < $RSS_MAX_KB")
v_all=$([ "$succeeded" = "$RUNS" ] && [ -n "$done_ok" ] && echo PASS || echo FAIL)
v_conc=$(verdict "$max_inprog >= $RUNS")
overhead_ms=$((all_ms - SLEEP * 1000))

echo
echo "Concurrency benchmark: $RUNS runs of \`sleep $SLEEP\`, --concurrency $CONCURRENCY, $(nproc) CPUs"
printf '%-40s %16s %16s %s\n' check measured budget result
printf '%-40s %16s %16s %s\n' "peak RSS (100 ms samples)" "$(mb "$rss_max")" "< $(mb "$RSS_MAX_KB")" "$v_rss"
printf '%-40s %16s %16s %s\n' "runs in progress at once (max seen)" "$max_inprog" ">= $RUNS" "$v_conc"
printf '%-40s %16s %16s %s\n' "runs succeeded" "$succeeded" "$RUNS" "$v_all"
printf '%-40s %16s %16s %s\n' "all ended (first POST to last end)" "$(secs "$all_ms")" "~ ${SLEEP} s + overhead" "(info)"
printf '%-40s %16s %16s %s\n' "overhead over the sleep" "$(secs "$overhead_ms")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "server span (created_at .. finished_at)" "$(secs "$span_ms")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "starting the $RUNS runs (POSTs)" "$(secs "$post_ms")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "all in progress after" "$(secs "$all_running_ms")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "RSS before the runs" "$(mb "$rss_before")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "RSS at max in progress" "$(mb "$rss_at_max")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "RSS after the runs" "$(mb "$rss_after")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "VmHWM (whole life)" "$(mb "$hwm")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "open fds at max in progress" "$fds_at_max" "-" "(info)"

cat >build/bench/concurrency.json <<EOJ
{"runs": $RUNS, "sleep_s": $SLEEP, "concurrency": $CONCURRENCY, "parallel": $PARALLEL, "cpus": $(nproc),
 "created": $created, "succeeded": $succeeded, "max_in_progress": $max_inprog,
 "post_ms": $post_ms, "all_running_ms": $all_running_ms, "all_ended_ms": $all_ms, "server_span_ms": $span_ms,
 "rss_before_kb": $rss_before, "rss_min_kb": $rss_min, "rss_max_kb": $rss_max, "rss_samples": $samples,
 "rss_at_max_in_progress_kb": $rss_at_max, "rss_after_kb": $rss_after, "hwm_kb": $hwm, "fds_at_max": $fds_at_max,
 "pass": {"rss": "$v_rss", "in_progress": "$v_conc", "succeeded": "$v_all"}}
EOJ
exit 0
