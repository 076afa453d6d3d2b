#!/usr/bin/env bash
# scripts/multinode-test.sh - the multi-node check of issue 5 on a real
# PostgreSQL (`make multinode`, part of `make test`).
#
# Starts a throw-away cluster (scripts/pg-test.sh), two API nodes
# (`dmt serve --no-executor`, two loopback ports) and three workers
# (`dmt worker --lease $LEASE`, tagged "prod,eu", "eu" and nothing), all on
# it. Then:
#   - GET /workers on either API node lists the three with their tags;
#   - 200 one-task runs, POSTed alternately to both API nodes; each appends
#     its DMT_RUN_ID to a file. All must end `succeeded` within a bounded
#     wait and every run id must be in the file exactly once (none lost,
#     none executed twice);
#   - a run of `sleep 30`; the worker holding it (its owner `host:pid`) is
#     killed with SIGKILL; the run must end `interrupted` within
#     lease + sweep + margin, with a line in its log saying so;
#   - across nodes: a run created on API node 2 is announced on node 1's
#     /events, and its log followed on node 1 streams every line and ends
#     when the run ends (LISTEN/NOTIFY);
#   - the node links (LISTEN connections) cut with pg_terminate_backend:
#     node 1's event stream says reload, and after the reconnection the
#     events of node 2's runs reach node 1 again;
#   - tags: the runs of an environment requiring "prod" all run on the
#     prod worker; a run requiring "gpu" waits queued saying why, until a
#     worker tagged gpu starts and runs it;
#   - SIGSTOP: a worker stopped past its lease loses its run (ended
#     `interrupted` by another); resumed, its late writes are refused (the
#     run stays interrupted, its task is not `succeeded`), its log says it
#     lost the lease, and the worker goes on to run new work;
#   - one API node is killed; the other must still serve (list, create and
#     complete a run).
# Every process and the cluster are stopped on exit (trap). The last line is
# `N passed, M failed`; the exit status is non-zero on any failure.
#
#   bash scripts/multinode-test.sh
#   RUNS=200 LEASE=5 DMT_BIN=build/dmt bash scripts/multinode-test.sh
set -uo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.." || exit 1
root=$PWD

RUNS=${RUNS:-200}
LEASE=${LEASE:-5}
WORKERS=${WORKERS:-3}
RUN_WAIT=${RUN_WAIT:-120} # s to wait for the runs to end
MARGIN=${MARGIN:-10}      # s on top of lease + sweep for the killed worker's run

if [ -z "${DMT_BIN:-}" ]; then
    [ -x build/dmt ] || make --no-print-directory -s build/dmt || {
        echo "multinode: make build/dmt failed" >&2
        exit 1
    }
    DMT_BIN=$root/build/dmt
fi
case $DMT_BIN in /*) ;; *) DMT_BIN=$root/$DMT_BIN ;; esac
for t in curl python3 psql; do
    command -v "$t" >/dev/null || {
        echo "multinode: $t is missing" >&2
        exit 1
    }
done

passed=0
failed=0
check() { # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" = 0 ]; then
        passed=$((passed + 1))
        echo "ok   - $1${3:+ ($3)}"
    else
        failed=$((failed + 1))
        echo "FAIL - $1${3:+ ($3)}"
    fi
}
is() { [ "$1" = "$2" ] && echo 0 || echo 1; }

tmp=$(mktemp -d /tmp/dmt-mn-XXXXXX)
pgdir=$(mktemp -d /tmp/dmt-pg-XXXXXX)
chmod 0755 "$tmp"
pids=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    bash "$root/scripts/pg-test.sh" stop "$pgdir" || true
    if [ "$failed" != 0 ] || [ "$rc" != 0 ]; then
        for f in "$tmp"/*.log; do
            [ -s "$f" ] || continue
            echo "--- last lines of $(basename "$f")" >&2
            tail -n 15 "$f" >&2
        done
    fi
    rm -rf "$tmp"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$rc" = 0 ] && exit 0
    exit 1
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

# --- the cluster and the nodes -------------------------------------------------
url=$(bash scripts/pg-test.sh start "$pgdir")
check "PostgreSQL cluster started" $? "$url"
[ -n "$url" ] || exit 1

export DMT_MASTER_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
export DMT_ADMIN_TOKEN=multinode-admin-token-0123456789abcdef
auth="Authorization: Bearer $DMT_ADMIN_TOKEN"

api_pids=()
bases=()
for n in 1 2; do
    port=$(free_port) || exit 1
    mkdir -p "$tmp/api$n"
    (cd "$tmp/api$n" && exec "$DMT_BIN" serve --no-executor --listen "127.0.0.1:$port" --db "$url") \
        >"$tmp/api$n.log" 2>&1 &
    pids+=($!)
    api_pids+=($!)
    bases+=("http://127.0.0.1:$port/api/v1")
    # The first node migrates the database and creates the admin token:
    # start the second one after it answers.
    up=1
    for _ in $(seq 150); do
        curl -fsS --max-time 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && {
            up=0
            break
        }
        sleep 0.1
    done
    check "API node $n answers /healthz" $up "port $port"
done
A1=${bases[0]}
A2=${bases[1]}

worker_pids=()
start_worker() { # start_worker NAME TAGS: the pid in $wpid
    mkdir -p "$tmp/$1"
    (cd "$tmp/$1" && exec "$DMT_BIN" worker --db "$url" --concurrency 8 --lease "$LEASE" \
        --tags "$2" --data-dir "$tmp/$1/data") >"$tmp/$1.log" 2>&1 &
    wpid=$!
    pids+=("$wpid")
}
worker_tags=("prod,eu" "eu" "")
for w in $(seq "$WORKERS"); do
    start_worker "w$w" "${worker_tags[$(((w - 1) % 3))]}"
    worker_pids+=("$wpid")
done
sleep 1
alive=0
for p in "${worker_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "$WORKERS workers running" "$(is "$alive" "$WORKERS")" "$alive alive"

api() { curl -sS --max-time 10 -f -H "$auth" -H 'Content-Type: application/json' "$@"; }
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
# wait_status BASE ID STATUS... : polls run ID (up to 30 s) until its status
# is one of the given; prints the last status seen.
wait_status() {
    local base=$1 id=$2 st=
    shift 2
    for _ in $(seq 150); do
        st=$(api "$base/runs/$id" | json 'd["status"]' 2>/dev/null || true)
        for want in "$@"; do [ "$st" = "$want" ] && break 2; done
        sleep 0.2
    done
    echo "$st"
}

w=$(api "$A1/workers" | json '" ".join(sorted("%s[%s]" % (x["kind"], ",".join(x["tags"])) for x in d["items"] if x["status"] == "online"))')
check "GET /workers lists the $WORKERS workers with their tags" \
    "$(is "$w" "$(printf '%s\n' "worker[eu,prod]" "worker[eu]" "worker[]" | head -n "$WORKERS" | sort | tr '\n' ' ' | sed 's/ $//')")" "$w"

# --- 200 one-task runs over both API nodes -------------------------------------
ok=0
api -X POST "$A1/environments" -d '{"name":"dev"}' >/dev/null || ok=1
api -X POST "$A1/jobs" -d '{"name":"one"}' >/dev/null || ok=1
api -X POST "$A2/jobs/one/tasks" \
    -d "{\"name\":\"t\",\"plugin\":\"shell\",\"variables\":{\"script\":\"echo \$DMT_RUN_ID >> $tmp/ids\"}}" \
    >/dev/null || ok=1
check "job created through the API with the bearer token" $ok

t0=$(date +%s%N)
post_runs() { # post_runs BASE COUNT OUT
    for _ in $(seq "$2"); do
        api -X POST "$1/jobs/one/runs" -d '{"environment":"dev"}' | json 'd["id"]' || echo ERR
    done >"$3"
}
half=$((RUNS / 2))
post_runs "$A1" "$half" "$tmp/created1" &
pp1=$!
post_runs "$A2" "$((RUNS - half))" "$tmp/created2" &
pp2=$!
wait "$pp1" "$pp2"
created=$(grep -c '^[0-9][0-9]*$' "$tmp/created1" "$tmp/created2" | awk -F: '{ s += $2 } END { print s }')
check "$RUNS runs created over both API nodes" "$(is "$created" "$RUNS")" \
    "$(grep -c '^[0-9]' "$tmp/created1") + $(grep -c '^[0-9]' "$tmp/created2")"

left=-1
deadline=$(($(date +%s) + RUN_WAIT))
while [ "$(date +%s)" -lt "$deadline" ]; do
    left=$(api "$A2/runs?job=one&limit=500" |
        json 'sum(r["status"] not in ("succeeded","failed","canceled","interrupted") for r in d["items"])') || left=-1
    [ "$left" = 0 ] && break
    sleep 0.5
done
t1=$(date +%s%N)
check "all runs terminal within ${RUN_WAIT}s" "$(is "$left" 0)" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", (b - a) / 1e9 }')"

statuses=$(api "$A1/runs?job=one&limit=500" |
    json '" ".join("%s=%d" % kv for kv in sorted(__import__("collections").Counter(r["status"] for r in d["items"]).items()))')
check "every run succeeded" "$(is "$statuses" "succeeded=$RUNS")" "$statuses"

dup=$(python3 - "$tmp/ids" "$tmp/created1" "$tmp/created2" <<'P'
import sys, collections
try:
    ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
except FileNotFoundError:
    ids = []
created = set()
for f in sys.argv[2:]:
    created |= {l.strip() for l in open(f) if l.strip().isdigit()}
c = collections.Counter(ids)
dupes = sorted(k for k, v in c.items() if v > 1)
missing = sorted(created - set(c))
extra = sorted(set(c) - created)
print("%d lines, %d distinct, dupes %s, missing %s, extra %s" % (len(ids), len(c), dupes[:10], missing[:10], extra[:10]))
sys.exit(0 if not dupes and not missing and not extra and len(ids) == len(created) else 1)
P
)
check "each run id in the output file exactly once" $? "$dup"

owners=$(psql "$url" -Atc "select count(distinct owner) from runs where job = 'one'" 2>/dev/null || echo '?')
echo "info - distinct run owners (workers) in the database: $owners"

# --- kill -9 of the worker holding a run ---------------------------------------
# A worker of its own, so that the others (and their tags) stay for later.
start_worker wkill doomed
kill_pid=$wpid
api -X POST "$A1/environments" -d '{"name":"doomed","worker_tags":["doomed"]}' >/dev/null
api -X POST "$A1/jobs" -d '{"name":"slow"}' >/dev/null &&
    api -X POST "$A1/jobs/slow/tasks" -d '{"name":"t","plugin":"shell","variables":{"script":"sleep 30"}}' >/dev/null
id=$(api -X POST "$A2/jobs/slow/runs" -d '{"environment":"doomed"}' | json 'd["id"]')
owner=
for _ in $(seq 100); do # 10 s
    owner=$(api "$A1/runs/$id" | json 'd.get("worker") or ""' 2>/dev/null || true)
    [ -n "$owner" ] && break
    sleep 0.1
done
opid=${owner##*:}
mine=$(is "$opid" "$kill_pid")
check "slow run $id claimed by the worker tagged doomed" "$mine" "worker '$owner'"
st=
elapsed=-1
if [ "$mine" = 0 ]; then
    sleep 1 # let its task start
    kill -KILL "$opid"
    k0=$(date +%s%N)
    wait "$opid" 2>/dev/null
    sweep=$(((LEASE + 2) / 3))
    [ "$sweep" -gt 5 ] && sweep=5
    [ "$sweep" -lt 1 ] && sweep=1
    limit=$((LEASE + sweep + MARGIN))
    end=$(($(date +%s) + limit + 5))
    while [ "$(date +%s)" -lt "$end" ]; do
        st=$(api "$A2/runs/$id" | json 'd["status"]' 2>/dev/null || true)
        [ "$st" = interrupted ] || [ "$st" = succeeded ] || [ "$st" = failed ] && break
        sleep 0.2
    done
    k1=$(date +%s%N)
    elapsed=$(awk -v a="$k0" -v b="$k1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    ok=1
    [ "$st" = interrupted ] && awk -v e="$elapsed" -v l="$limit" 'BEGIN { exit !(e <= l) }' && ok=0
    check "killed worker's run ends interrupted within lease+sweep+margin (${limit}s)" $ok \
        "status '$st' after ${elapsed}s"
    logtext=$(curl -sS --max-time 10 -H "$auth" "$A1/runs/$id/log" 2>/dev/null)
    echo "$logtext" | grep -qi 'interrupted\|lease'
    check "its log says why" $? "$(echo "$logtext" | grep -i 'interrupted\|lease' | tail -n 1 | cut -c1-120)"
fi

# --- across nodes: events and log follow ---------------------------------------
# Node 1 runs nothing and created nothing: all it hears comes over the bus.
curl -sSN --max-time 60 -H "$auth" "$A1/events" >"$tmp/events1" 2>/dev/null &
ev_pid=$!
pids+=("$ev_pid")
api -X POST "$A1/jobs" -d '{"name":"chatty"}' >/dev/null &&
    api -X POST "$A1/jobs/chatty/tasks" \
        -d '{"name":"t","plugin":"shell","variables":{"script":"for i in 1 2 3 4; do echo line$i; sleep 0.7; done"}}' >/dev/null
sleep 0.5
cid=$(api -X POST "$A2/jobs/chatty/runs" -d '{"environment":"dev"}' | json 'd["id"]')
f0=$(date +%s%N)
followed=$(curl -sS --max-time 30 -H "$auth" "$A1/runs/$cid/log?follow=1" 2>/dev/null)
f1=$(date +%s%N)
fsecs=$(awk -v a="$f0" -v b="$f1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
lines=$(echo "$followed" | grep -c '^line[1-4]$')
ok=1
[ "$lines" = 4 ] && awk -v e="$fsecs" 'BEGIN { exit !(e < 20) }' && ok=0
check "log followed on API node 1 streams a run of node 2 to its end" $ok "$lines of 4 lines, ended after ${fsecs}s"
sleep 0.5
kill "$ev_pid" 2>/dev/null
wait "$ev_pid" 2>/dev/null
grep -q "\"name\":\"$cid\".*\"status\":\"succeeded\"" "$tmp/events1"
check "API node 1's /events announces the run node 2 created and a worker ran" $? \
    "$(grep -c "\"name\":\"$cid\"" "$tmp/events1") events of run $cid"

# --- the node link breaks: pages reload, the link comes back ----------------------
curl -sSN --max-time 30 -H "$auth" "$A1/events" >"$tmp/events2" 2>/dev/null &
ev_pid=$!
pids+=("$ev_pid")
sleep 0.5
killed=$(psql "$url" -Atc "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'dmt-bus'" 2>/dev/null)
reset=1
for _ in $(seq 50); do
    grep -q '^event: reset' "$tmp/events2" && { reset=0; break; }
    sleep 0.2
done
check "the node links cut ($killed connections): API node 1's event stream says reload" $reset
sleep 1
rid=$(api -X POST "$A2/jobs/one/runs" -d '{"environment":"dev"}' | json 'd["id"]')
seen=1
for _ in $(seq 75); do
    grep -q "\"name\":\"$rid\".*\"status\":\"succeeded\"" "$tmp/events2" && { seen=0; break; }
    sleep 0.2
done
check "reconnected: node 1 hears of a run node 2 created and a worker ran" $seen "run $rid"
kill "$ev_pid" 2>/dev/null
wait "$ev_pid" 2>/dev/null

# --- tag targeting ---------------------------------------------------------------
api -X POST "$A1/environments" -d '{"name":"prod","worker_tags":["prod"]}' >/dev/null
prod_runs=()
for _ in $(seq 10); do
    prod_runs+=("$(api -X POST "$A2/jobs/one/runs" -d '{"environment":"prod"}' | json 'd["id"]')")
done
where=
for i in "${prod_runs[@]}"; do
    [ "$(wait_status "$A1" "$i" succeeded failed)" = succeeded ] || where="$where run$i:not-succeeded"
    where="$where $(api "$A1/runs/$i" | json 'd["worker"]' | sed 's/.*://')"
done
prod_pid=${worker_pids[0]}
bad=$(echo "$where" | tr ' ' '\n' | grep -v "^$prod_pid\$" | grep -c .)
check "the 10 runs needing tag prod all ran on the prod worker (pid $prod_pid)" "$(is "$bad" 0)" "$where"

api -X POST "$A1/environments" -d '{"name":"gpu","worker_tags":["gpu"]}' >/dev/null
gid=$(api -X POST "$A1/jobs/one/runs" -d '{"environment":"gpu"}' | json 'd["id"]')
sleep 2
g=$(api "$A2/runs/$gid" | json 'd["status"] + ": " + d.get("queued_reason", "")')
case $g in "queued: "*gpu*) ok=0 ;; *) ok=1 ;; esac
check "a run needing tag gpu waits queued and says why" $ok "$g"
start_worker wgpu gpu
gpu_pid=$wpid
st=$(wait_status "$A2" "$gid" succeeded failed)
gw=$(api "$A2/runs/$gid" | json 'd["worker"]' | sed 's/.*://')
check "a worker tagged gpu starts and runs it" "$([ "$st" = succeeded ] && [ "$gw" = "$gpu_pid" ]; echo $?)" \
    "status '$st' on pid $gw"

# --- SIGSTOP past the lease: late writes refused ----------------------------------
api -X POST "$A1/environments" -d '{"name":"stopme","worker_tags":["stopme"]}' >/dev/null
api -X POST "$A1/jobs" -d '{"name":"paused"}' >/dev/null &&
    api -X POST "$A1/jobs/paused/tasks" \
        -d '{"name":"t","plugin":"shell","variables":{"script":"echo started; sleep 3; echo finished"}}' >/dev/null
start_worker wstop stopme
stop_pid=$wpid
sleep 0.5
sid=$(api -X POST "$A2/jobs/paused/runs" -d '{"environment":"stopme"}' | json 'd["id"]')
st=$(wait_status "$A1" "$sid" running)
sleep 0.5
kill -STOP "$stop_pid"
s0=$(date +%s)
# The other workers' sweeps take the run back once the lease expires.
st=$(wait_status "$A1" "$sid" interrupted succeeded failed)
check "the run of a SIGSTOPped worker ends interrupted (taken back by another)" "$(is "$st" interrupted)" \
    "'$st' after $(($(date +%s) - s0))s"
# Its task finished meanwhile; resumed, the worker must write nothing.
sleep $((LEASE + 1))
kill -CONT "$stop_pid"
sleep 3
after=$(api "$A1/runs/$sid" | json 'd["status"] + " " + d["tasks"][0]["status"]')
check "resumed, its late writes are refused" "$(is "$after" "interrupted failed")" "run, task: $after"
log=$(curl -sS --max-time 10 -H "$auth" "$A1/runs/$sid/log" 2>/dev/null)
echo "$log" | grep -q "lost its lease"
check "the run's log says the paused worker lost its lease" $? \
    "$(echo "$log" | grep "lost its lease" | cut -c1-100)"
sid2=$(api -X POST "$A2/jobs/paused/runs" -d '{"environment":"stopme"}' | json 'd["id"]')
st=$(wait_status "$A1" "$sid2" succeeded failed interrupted)
check "the resumed worker runs new work" "$(is "$st" succeeded)" "run $sid2: '$st'"

# --- kill one API node: the other still serves ---------------------------------
before=$(api "$A2/runs?job=one&limit=500" | json 'len(d["items"])' 2>/dev/null || echo ERR)
kill -KILL "${api_pids[0]}"
wait "${api_pids[0]}" 2>/dev/null
n=$(api "$A2/runs?job=one&limit=500" | json 'len(d["items"])' 2>/dev/null || echo ERR)
check "API node 2 lists the runs after node 1 was killed" "$(is "$n" "$before")" "$n runs"
id2=$(api -X POST "$A2/jobs/one/runs" -d '{"environment":"dev"}' | json 'd["id"]' 2>/dev/null || echo ERR)
st=
for _ in $(seq 100); do # 20 s
    st=$(api "$A2/runs/$id2" | json 'd["status"]' 2>/dev/null || true)
    [ "$st" = succeeded ] || [ "$st" = failed ] && break
    sleep 0.2
done
check "API node 2 creates a run that completes" "$(is "$st" succeeded)" "run $id2: '$st'"
