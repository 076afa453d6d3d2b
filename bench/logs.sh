#!/usr/bin/env bash
# bench/logs.sh - the log capture benchmark of DESIGN.md §10.
#
# Starts `dmt serve` on a fresh SQLite database on loopback, creates through
# the API an environment and a job of one shell task that writes 100 MB of
# lines to stdout (`yes LINE | head -c 104857600`), and times one run of it
# from the POST that creates the run to its terminal status (GET
# /api/v1/runs/{id} every 50 ms: a log follower would compete with the
# capture for the CPUs). Meanwhile samples the server's RSS every 100 ms.
# Then reads the stored log back (GET /api/v1/runs/{id}/log) and counts its
# bytes. In the same run, the baseline: the same command writing to
# /dev/null, and through a pipe to cat. Prints the figures against the
# budgets:  capture >= 100 MB/s;  RSS flat: max - before the run < 20 MB;
# stored log >= the bytes written.
# A benchmark reports, it does not gate: the exit status is 0 whatever the
# figures, and non-zero only when something could not run.
#
#   bash bench/logs.sh
#   LOG_MB=20 bash bench/logs.sh   MB (2^20 bytes) the task writes (default 100)
#   Also: RUN_TIMEOUT (s to wait for the run, default 120); DMT_BIN=PATH
#   benchmarks that binary instead of building build/dmt with make.
#   Results also go to build/bench/logs.json.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

LOG_MB=${LOG_MB:-100}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}

RATE_MIN=100              # MB/s captured, at least
RSS_GROWTH_MAX_KB=$((20 * 1024)) # peak RSS during the run over RSS before it

require_positive LOG_MB RUN_TIMEOUT
LOG_BYTES=$((LOG_MB * 1048576))
SCRIPT="yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c $LOG_BYTES"

# --- tools and binaries ------------------------------------------------------
bench_setup build curl awk

# --- helpers -------------------------------------------------------------------

# The first string or null member $2 of the first task of a run
# representation (its "tasks" part), unquoted; empty for null.
task_field() {
    tr -d '\n' <"$1" | awk -v key="$2" '{
        i = index($0, "\"tasks\""); if (i == 0) exit
        s = substr($0, i)
        if (match(s, "\"" key "\" *: *(\"[^\"]*\"|null|-?[0-9]+)")) {
            v = substr(s, RSTART, RLENGTH); sub(/^[^:]*: */, "", v); gsub(/"/, "", v)
            if (v != "null") print v
        }
    }'
}

# Waits (bounded) for the run at $1 to reach a terminal status, GETting it
# every 50 ms into $tmp/run.json; sets status. Returns 1 on timeout.
wait_run() {
    local path=$1 limit=$2 end
    end=$(($(date +%s) + limit))
    status=
    while [ "$(date +%s)" -lt "$end" ]; do
        curl -sS --max-time 10 -o "$tmp/run.json" -H "$auth" "$base$path" || true
        status=$(run_status "$tmp/run.json")
        [[ $status =~ ^(succeeded|failed|canceled|interrupted)$ ]] && return 0
        sleep 0.05
    done
    return 1
}

# --- the baseline: the command alone -------------------------------------------
log "baseline: $SCRIPT > /dev/null"
/bin/sh -c "$SCRIPT" >/dev/null # warm up
t0=$(now_ns)
/bin/sh -c "$SCRIPT" >/dev/null
t1=$(now_ns)
null_ms=$(((t1 - t0) / 1000000))
log "baseline: $SCRIPT | cat > /dev/null"
t0=$(now_ns)
/bin/sh -c "$SCRIPT" | cat >/dev/null
t1=$(now_ns)
pipe_ms=$(((t1 - t0) / 1000000))

# --- dmt -----------------------------------------------------------------------
start_dmt
post /api/v1/environments '{"name":"bench"}'
post /api/v1/jobs '{"name":"logs"}'
post /api/v1/jobs/logs/tasks "{\"name\":\"write\",\"plugin\":\"shell\",\"variables\":{\"script\":\"$SCRIPT\"}}"
sleep 1
rss_before=$(rss_kb "$dmt_pid")
hwm_before=$(rss_kb "$dmt_pid" VmHWM)

sample_rss "$dmt_pid" "$tmp/rss" &
sampler_pid=$!
log "dmt: one run writing $LOG_MB MB (timeout ${RUN_TIMEOUT}s)"
t0=$(now_ns)
post /api/v1/jobs/logs/runs '{"environment":"bench"}'
run_path=$(post_location)
[ -n "$run_path" ] || die "POST /runs gave no Location"
wait_run "$run_path" "$RUN_TIMEOUT" || log "warning: the run did not end within ${RUN_TIMEOUT}s"
t1=$(now_ns)
run_ms=$(((t1 - t0) / 1000000))
sleep 0.3 # a few samples after the end
stop "$sampler_pid"
sampler_pid=
hwm_after=$(rss_kb "$dmt_pid" VmHWM)
read -r rss_min rss_max < <(min_max "$tmp/rss")
samples=$(wc -l <"$tmp/rss")
[ "$rss_max" = - ] && rss_min=$rss_before rss_max=$rss_before
task_started=$(ts_ms "$(task_field "$tmp/run.json" started_at)")
task_finished=$(ts_ms "$(task_field "$tmp/run.json" finished_at)")
task_ms=
[ -n "$task_started" ] && [ -n "$task_finished" ] && task_ms=$((task_finished - task_started))

log "dmt: reading the stored log back"
t2=$(now_ns)
code=$(curl -sS --max-time "$RUN_TIMEOUT" -H "$auth" -o >(wc -c >"$tmp/log.bytes") -w '%{http_code}' \
    "$base$run_path/log") || die "GET $run_path/log failed"
t3=$(now_ns)
[ "$code" = 200 ] || die "GET $run_path/log answered $code"
for _ in $(seq 50); do [ -s "$tmp/log.bytes" ] && break; sleep 0.1; done
stored=$(tr -d ' ' <"$tmp/log.bytes")
read_ms=$(((t3 - t2) / 1000000))
rss_end=$(rss_kb "$dmt_pid")
db_bytes=$(du -cb "$tmp/run"/dmt.db* | awk 'END { print $1 }')
stop "$dmt_pid"
dmt_pid=

# --- report --------------------------------------------------------------------
rate() { awk -v b="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.1f", b / 1048576 / (ms / 1000); else print 0 }'; }
rate_run=$(rate "$LOG_BYTES" "$run_ms")
rate_task=$( [ -n "$task_ms" ] && rate "$LOG_BYTES" "$task_ms" || echo 0)
rate_null=$(rate "$LOG_BYTES" "$null_ms")
rate_pipe=$(rate "$LOG_BYTES" "$pipe_ms")
rate_read=$(rate "$stored" "$read_ms")
growth=$((rss_max - rss_before))
v_rate=$(verdict "$rate_run >= $RATE_MIN")
v_rss=$(verdict "$growth < $RSS_GROWTH_MAX_KB")
v_status=$([ "$status" = succeeded ] && echo PASS || echo FAIL)
v_stored=$(verdict "$stored >= $LOG_BYTES && $stored < $LOG_BYTES + 65536")

echo
echo "Log benchmark: one task writing $LOG_MB MB ($LOG_BYTES B) of 73-byte lines to stdout, $(nproc) CPUs"
printf '%-40s %10s %12s\n' target time rate
printf '%-40s %7s ms %7s MB/s\n' "baseline: command > /dev/null" "$null_ms" "$rate_null"
printf '%-40s %7s ms %7s MB/s\n' "baseline: command | cat > /dev/null" "$pipe_ms" "$rate_pipe"
printf '%-40s %7s ms %7s MB/s\n' "dmt run (POST to terminal status)" "$run_ms" "$rate_run"
printf '%-40s %7s ms %7s MB/s\n' "dmt task (started_at to finished_at)" "${task_ms:--}" "$rate_task"
printf '%-40s %7s ms %7s MB/s\n' "dmt GET /runs/{id}/log (read back)" "$read_ms" "$rate_read"
echo
printf '%-40s %16s %16s %s\n' check measured budget result
printf '%-40s %16s %16s %s\n' "capture rate (run)" "$rate_run MB/s" ">= $RATE_MIN MB/s" "$v_rate"
printf '%-40s %16s %16s %s\n' "RSS growth (max - before the run)" "$(mb "$growth")" "< $(mb "$RSS_GROWTH_MAX_KB")" "$v_rss"
printf '%-40s %16s %16s %s\n' "stored log size" "$stored B" ">= $LOG_BYTES B" "$v_stored"
printf '%-40s %16s %16s %s\n' "run status" "$status" "succeeded" "$v_status"
printf '%-40s %16s %16s %s\n' "RSS before the run" "$(mb "$rss_before")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "RSS min during the run" "$(mb "$rss_min")" "-" "(info, $samples samples)"
printf '%-40s %16s %16s %s\n' "RSS max during the run" "$(mb "$rss_max")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "RSS after reading the log back" "$(mb "$rss_end")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "VmHWM before / after the run" "$(mb "$hwm_before") / $(mb "$hwm_after")" "-" "(info)"
printf '%-40s %16s %16s %s\n' "database size (with WAL)" "$db_bytes B" "-" "(info)"

cat >build/bench/logs.json <<EOJ
{"log_bytes": $LOG_BYTES, "cpus": $(nproc),
 "baseline": {"devnull_ms": $null_ms, "devnull_mbps": $rate_null, "pipe_ms": $pipe_ms, "pipe_mbps": $rate_pipe},
 "dmt": {"run_ms": $run_ms, "run_mbps": $rate_run, "task_ms": ${task_ms:-null}, "task_mbps": $rate_task,
         "status": "$status", "stored_bytes": $stored, "read_ms": $read_ms, "read_mbps": $rate_read,
         "rss_before_kb": $rss_before, "rss_min_kb": $rss_min, "rss_max_kb": $rss_max, "rss_growth_kb": $growth,
         "rss_samples": $samples, "rss_end_kb": $rss_end, "hwm_before_kb": $hwm_before, "hwm_after_kb": $hwm_after,
         "db_bytes": $db_bytes},
 "pass": {"rate": "$v_rate", "rss": "$v_rss", "stored": "$v_stored", "status": "$v_status"}}
EOJ
exit 0
