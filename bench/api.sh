#!/usr/bin/env bash
# bench/api.sh - the API benchmark of DESIGN.md §10.
#
# Loads, with wrk and in the same run, first bench/mhd_min.c (the ceiling: a
# minimal libmicrohttpd server answering a fixed 1 KB JSON body, with dmt's
# threading), then `dmt serve` on a fresh SQLite database on loopback, with
# 20 jobs created through the API, at GET /api/v1/jobs. Prints requests/s,
# p99 latency, the ratio dmt/ceiling and dmt's idle RSS against the budgets:
#   ratio >= 0.60, p99 < 20 ms, idle RSS < 10 MB.
# A benchmark reports, it does not gate: the exit status is 0 whatever the
# figures, and non-zero only when something could not run.
#
#   bash bench/api.sh             (or `make bench`)
#   DURATION=30 bash bench/api.sh seconds of each wrk run (default 10)
#   Also: THREADS (2), CONNECTIONS (64), JOBS (20); DMT_BIN=PATH benchmarks
#   that binary instead of building build/dmt with make.
#   Results also go to build/bench/api.json.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
JOBS=${JOBS:-20}

RATIO_MIN=0.60 # dmt req/s over the ceiling's, at least
P99_MAX_MS=20
RSS_MAX_KB=$((10 * 1024))

require_positive DURATION THREADS CONNECTIONS JOBS

# --- tools and binaries ------------------------------------------------------
bench_setup test wrk curl cc pkg-config
mhd_bin=build/bench/mhd_min
if [ ! -x "$mhd_bin" ] || [ bench/mhd_min.c -nt "$mhd_bin" ]; then
    # shellcheck disable=SC2046 # pkg-config prints several words on purpose
    cc -O2 -g -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags libmicrohttpd) \
        -o "$mhd_bin" bench/mhd_min.c $(pkg-config --libs libmicrohttpd) -lpthread ||
        die "cannot compile bench/mhd_min.c"
fi

# --- helpers -------------------------------------------------------------------

# Runs wrk against a URL (extra wrk arguments follow) after a 1 s warm-up;
# leaves its report in $tmp/wrk.$name.
run_wrk() {
    local name=$1 url=$2
    shift 2
    run_bg wrk -t"$THREADS" -c"$CONNECTIONS" -d1s "$@" "$url" >/dev/null 2>&1 || true
    run_bg wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" \
        >"$tmp/wrk.$name" 2>&1 || {
        cat "$tmp/wrk.$name" >&2
        die "wrk failed against $url"
    }
}

# Prints requests/s from a wrk report.
wrk_rps() { awk '$1 == "Requests/sec:" { print $2 }' "$1"; }

# Prints the p99 latency of a wrk report in ms (wrk writes us, ms or s).
wrk_p99_ms() {
    awk '$1 == "99%" {
        v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f", v
    }' "$1"
}

# Prints the count of non-2xx/3xx answers and socket errors of a wrk report.
wrk_bad() {
    awk '/Non-2xx or 3xx responses:/ { n += $NF }
         /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
         END { print n + 0 }' "$1"
}

check_report() {
    local name=$1 f=$tmp/wrk.$1
    if [ -z "$(wrk_rps "$f")" ] || [ -z "$(wrk_p99_ms "$f")" ]; then
        cat "$f" >&2
        die "cannot read the wrk report of $name"
    fi
}

# --- the ceiling: mhd_min ------------------------------------------------------
log "ceiling: starting $mhd_bin"
"$mhd_bin" 0 >"$tmp/mhd.out" 2>"$tmp/mhd.err" &
mhd_pid=$!
mhd_port=
for _ in $(seq 50); do
    mhd_port=$(awk '$1 == "port" { print $2 }' "$tmp/mhd.out")
    [ -n "$mhd_port" ] && break
    kill -0 "$mhd_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$mhd_port" ] || {
    cat "$tmp/mhd.err" >&2
    die "mhd_min did not start"
}
mhd_url=http://127.0.0.1:$mhd_port/api/v1/jobs
mhd_bytes=$(curl -fsS --max-time 5 "$mhd_url" | wc -c) || die "mhd_min does not answer"
log "ceiling: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s $mhd_url"
# The same request as to dmt, Authorization header included.
run_wrk mhd "$mhd_url" -H "$auth"
check_report mhd
stop "$mhd_pid"
mhd_pid=

# --- dmt -----------------------------------------------------------------------
# No --data-dir, as ever for this benchmark.
serve_plain=1
start_dmt

sleep 1
rss_start=$(rss_kb "$dmt_pid")

log "dmt: creating $JOBS jobs"
for i in $(seq "$JOBS"); do
    code=$(curl -sS --max-time 5 -o "$tmp/post.out" -w '%{http_code}' -X POST \
        -H "$auth" -H 'Content-Type: application/json' \
        --data "{\"name\":\"job-$i\"}" "$base/api/v1/jobs") || die "POST /api/v1/jobs failed"
    [ "$code" = 201 ] || {
        cat "$tmp/post.out" >&2
        echo >&2
        die "POST /api/v1/jobs answered $code, not 201"
    }
done

dmt_url=$base/api/v1/jobs
code=$(curl -sS --max-time 5 -o "$tmp/jobs.json" -w '%{http_code}' -H "$auth" "$dmt_url") ||
    die "GET /api/v1/jobs failed"
[ "$code" = 200 ] || die "GET /api/v1/jobs answered $code, not 200"
dmt_bytes=$(wc -c <"$tmp/jobs.json")
listed=$(grep -o '"name" *: *"job-[0-9]*"' "$tmp/jobs.json" | wc -l)
[ "$listed" = "$JOBS" ] || log "warning: GET /api/v1/jobs lists $listed jobs named job-N, not $JOBS"

sleep 1
rss_idle=$(rss_kb "$dmt_pid")
log "dmt: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s $dmt_url"
run_wrk dmt "$dmt_url" -H "$auth"
check_report dmt
kill -0 "$dmt_pid" 2>/dev/null || die "dmt serve died under load"
rss_peak=$(rss_kb "$dmt_pid" VmHWM)
sleep 2
rss_after=$(rss_kb "$dmt_pid")
stop "$dmt_pid"
dmt_pid=

# --- report --------------------------------------------------------------------
mhd_rps=$(wrk_rps "$tmp/wrk.mhd")
mhd_p99=$(wrk_p99_ms "$tmp/wrk.mhd")
dmt_rps=$(wrk_rps "$tmp/wrk.dmt")
dmt_p99=$(wrk_p99_ms "$tmp/wrk.dmt")
mhd_bad=$(wrk_bad "$tmp/wrk.mhd")
dmt_bad=$(wrk_bad "$tmp/wrk.dmt")
ratio=$(awk -v a="$dmt_rps" -v b="$mhd_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')

v_ratio=$(verdict "$ratio >= $RATIO_MIN")
v_p99=$(verdict "$dmt_p99 < $P99_MAX_MS")
v_rss_start=$(verdict "$rss_start < $RSS_MAX_KB")
v_rss_idle=$(verdict "$rss_idle < $RSS_MAX_KB")
v_rss_after=$(verdict "$rss_after < $RSS_MAX_KB")
v_errors=$(verdict "$dmt_bad == 0")

echo
echo "API benchmark: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $JOBS jobs, $(nproc) CPUs"
printf '%-32s %10s %10s %8s %10s %s\n' target req/s p99 ratio "body" errors
printf '%-32s %10.0f %7s ms %8s %8s B %s\n' "ceiling (mhd_min, 1 KB JSON)" \
    "$mhd_rps" "$mhd_p99" 1.00 "$mhd_bytes" "$mhd_bad"
printf '%-32s %10.0f %7s ms %8s %8s B %s\n' "dmt GET /api/v1/jobs" \
    "$dmt_rps" "$dmt_p99" "$ratio" "$dmt_bytes" "$dmt_bad"
echo
printf '%-32s %14s %14s %s\n' check measured budget result
printf '%-32s %14s %14s %s\n' "ratio dmt/ceiling (req/s)" "$ratio" ">= $RATIO_MIN" "$v_ratio"
printf '%-32s %14s %14s %s\n' "dmt p99 latency" "$dmt_p99 ms" "< $P99_MAX_MS ms" "$v_p99"
printf '%-32s %14s %14s %s\n' "dmt idle RSS after start" "$(mb "$rss_start")" "< 10 MB" "$v_rss_start"
printf '%-32s %14s %14s %s\n' "dmt idle RSS with $JOBS jobs" "$(mb "$rss_idle")" "< 10 MB" "$v_rss_idle"
printf '%-32s %14s %14s %s\n' "dmt idle RSS after load" "$(mb "$rss_after")" "< 10 MB" "$v_rss_after"
printf '%-32s %14s %14s %s\n' "dmt peak RSS under load" "$(mb "$rss_peak")" "-" "(info)"
printf '%-32s %14s %14s %s\n' "dmt non-2xx answers, errors" "$dmt_bad" "0" "$v_errors"

cat >build/bench/api.json <<EOF
{"duration_s": $DURATION, "threads": $THREADS, "connections": $CONNECTIONS, "jobs": $JOBS,
 "ceiling": {"rps": $mhd_rps, "p99_ms": $mhd_p99, "body_bytes": $mhd_bytes, "errors": $mhd_bad},
 "dmt": {"rps": $dmt_rps, "p99_ms": $dmt_p99, "body_bytes": $dmt_bytes, "errors": $dmt_bad,
         "rss_start_kb": $rss_start, "rss_idle_kb": $rss_idle, "rss_after_kb": $rss_after, "rss_peak_kb": $rss_peak},
 "ratio": $ratio,
 "pass": {"ratio": "$v_ratio", "p99": "$v_p99", "rss_start": "$v_rss_start", "rss_idle": "$v_rss_idle",
          "rss_after": "$v_rss_after", "errors": "$v_errors"}}
EOF
exit 0
