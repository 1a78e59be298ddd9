#!/usr/bin/env bash
# Scale check (issue 4): the producer lists and enqueues a synthetic container of
# SCALE_BLOBS blobs (default 1,000,000) with flat memory, and Redis memory per key is
# measured for the README's sizing table.
#
#   make scale                       # or: SCALE_BLOBS=200000 scripts/scale.sh
#
# Starts its own redis-server (free port, temp dir, no persistence) and its own Azure
# emulator with --synthetic N, builds release, then:
#   1. producer run 1 under /usr/bin/time: counts, wall time, listing rate, peak RSS,
#      CPU of the producer / emulator / redis-server, Redis used_memory -> bytes per queued key
#   2. a Lua step moves every queued key into its partition's done set (a finished
#      migration, without copying) -> bytes per done key
#   3. producer run 2 (a new pass) over the same names: must enqueue 0, all skipped
#   4. listing speed (issue 9): a fresh emulator adding SCALE_LIST_LATENCY_MS (300) to
#      every request, SCALE_LIST_BLOBS (300,000) names spread over the alphabet, then the
#      same count all under `uploads/` (skewed), one producer with 16 listers each:
#      wall time, List Blobs requests (the emulator's count, the preflight and the two
#      startFrom checks included), listing units (Redis `units`), against the minimum
#      (names / 5000) and issue 9's goals; first the same two with the emulator rejecting
#      startFrom, which is the listing of before (a catch-all sweep, no splitting), unless
#      SCALE_LIST_SWEEP=0.
# Exits non-zero when the producer's peak RSS reaches SCALE_MAX_RSS_KIB (64 MiB) or a
# count differs from N. Stops everything it started, whatever happens.
# Knobs: SCALE_BLOBS, SCALE_LISTERS (producer listers, default: the producer's 16),
# SCALE_MAX_RSS_KIB (65536), SCALE_KEEP=1 (keep the temp dir with the logs),
# SCALE_LIST_BLOBS, SCALE_LIST_LATENCY_MS, SCALE_LIST_ONLY=1 (only step 4), SCALE_LIST_SWEEP.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${SCALE_BLOBS:-1000000}
MAX_RSS_KIB=${SCALE_MAX_RSS_KIB:-65536}
PYTHON=${PYTHON:-python3}
SWIFT=${SWIFT:-swift}
CONTAINER=synth
JOB=scale
AZURE_ACCOUNT=devstoreaccount1
# The well-known Azurite development key (public).
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

die() { echo "scale.sh: $*" >&2; exit 1; }
[[ $N =~ ^[1-9][0-9]*$ ]] || die "SCALE_BLOBS must be a positive integer (got '$N')"
command -v redis-server >/dev/null || die "redis-server not found: run scripts/install-deps.sh"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/blobferry-scale.XXXXXX")
REDIS_PID="" EMULATOR_PID="" LIST_EMULATOR_PID=""
cleanup() {
    local rc=$?
    for pid in $LIST_EMULATOR_PID $EMULATOR_PID $REDIS_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $LIST_EMULATOR_PID $EMULATOR_PID $REDIS_PID; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${SCALE_KEEP:-0} == 1 || $rc != 0 ]]; then
        echo "scale.sh: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The real interpreter behind a pyenv shim (so the pid we record is the emulator's).
if [[ $(command -v "$PYTHON") == */shims/* ]] && command -v pyenv >/dev/null; then
    PYTHON=$(pyenv which "$PYTHON")
fi

echo "== building release"
"$SWIFT" build -c release >"$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log" >&2; die "release build failed"; }
BIN=$("$SWIFT" build -c release --show-bin-path)

# A loopback port that was free a moment ago.
free_port() {
    "$PYTHON" -S -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP" --save "" --appendonly no \
    --daemonize no --logfile "$TMP/redis.log" &
REDIS_PID=$!
"$PYTHON" -S scripts/azure_emulator.py --port 0 --port-file "$TMP/azure.port" \
    --synthetic "$N" --synthetic-container "$CONTAINER" 2>"$TMP/emulator.log" &
EMULATOR_PID=$!

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
for _ in $(seq 1 300); do
    if [[ -s $TMP/azure.port ]] && [[ $(rcli PING 2>/dev/null) == PONG ]]; then break; fi
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited (see $TMP/redis.log)"
    kill -0 "$EMULATOR_PID" 2>/dev/null || die "the emulator exited (see $TMP/emulator.log)"
    sleep 0.1
done
[[ -s $TMP/azure.port ]] && [[ $(rcli PING 2>/dev/null) == PONG ]] || die "services did not start in 30 s"
AZURE_PORT=$(<"$TMP/azure.port")

export BLOBFERRY_JOB=$JOB
export BLOBFERRY_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$AZURE_ACCOUNT;AccountKey=$AZURE_KEY;BlobEndpoint=http://127.0.0.1:$AZURE_PORT/$AZURE_ACCOUNT;"
export BLOBFERRY_SOURCE_CONTAINER=$CONTAINER
export BLOBFERRY_MAX_QUEUED_PER_PARTITION=10000000
export BLOBFERRY_LOG_LEVEL=${BLOBFERRY_LOG_LEVEL:-warning}
if [[ -n ${SCALE_LISTERS:-} ]]; then export BLOBFERRY_LISTERS=$SCALE_LISTERS; fi
unset AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN BLOBFERRY_SOURCE_ENDPOINT BLOBFERRY_CONFIG

used_memory() { rcli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }
redis_cpu() { rcli INFO cpu | tr -d '\r' | awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" {s += $2} END {printf "%.2f", s}'; }
# CPU seconds (user + system) a process has used so far.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"
}
status_field() { jq -r ".$1" "$TMP/status.json"; }
stat_field() { rcli HGET "blobferry:$JOB:stats" "$1"; }

FAILED=0
check() { # check "what" actual expected
    if [[ $2 != "$3" ]]; then
        echo "  FAIL: $1 is $2, expected $3"
        FAILED=1
    fi
}

# Runs the producer under /usr/bin/time; sets WALL, RSS_KIB, CPU_P, CPU_E, CPU_R.
run_producer() {
    local label=$1 e0 r0
    e0=$(proc_cpu "$EMULATOR_PID")
    r0=$(redis_cpu)
    if ! /usr/bin/time -f '%e %U %S %M' -o "$TMP/time.$label" \
        "$BIN/blobferry-producer" >"$TMP/producer.$label.log" 2>&1; then
        tail -20 "$TMP/producer.$label.log" >&2
        die "producer ($label) failed"
    fi
    read -r WALL user sys RSS_KIB < <(tail -1 "$TMP/time.$label")
    CPU_P=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.1f", u + s}')
    CPU_E=$(awk -v a="$e0" -v b="$(proc_cpu "$EMULATOR_PID")" 'BEGIN {printf "%.1f", b - a}')
    CPU_R=$(awk -v a="$r0" -v b="$(redis_cpu)" 'BEGIN {printf "%.1f", b - a}')
    "$BIN/blobferry" status --json >"$TMP/status.json"
}

report_run() {
    local rate
    rate=$(awk -v n="$N" -v t="$WALL" 'BEGIN {printf "%.0f", (t > 0 ? n / t : 0)}')
    echo "  wall ${WALL} s, listing rate ${rate} keys/s, producer peak RSS $((RSS_KIB / 1024)) MiB (${RSS_KIB} KiB)"
    echo "  CPU seconds: producer ${CPU_P}, emulator ${CPU_E}, redis-server ${CPU_R} (machine: $(nproc) cores, shared)"
    if ((RSS_KIB >= MAX_RSS_KIB)); then
        echo "  FAIL: peak RSS ${RSS_KIB} KiB >= ${MAX_RSS_KIB} KiB"
        FAILED=1
    fi
}

per_key() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.1f", (n > 0 ? (b - a) / n : 0)}'; }

REDIS_VERSION=$(rcli INFO server | tr -d '\r' | awk -F: '$1 == "redis_version" {print $2}')

# Step 4: one producer lists LIST_N synthetic names (under `prefix`) from its own emulator
# with LIST_LATENCY ms per request; prints wall time, List Blobs requests, listing units.
LIST_N=${SCALE_LIST_BLOBS:-300000}
LIST_LATENCY=${SCALE_LIST_LATENCY_MS:-300}
[[ $LIST_N =~ ^[1-9][0-9]*$ ]] || die "SCALE_LIST_BLOBS must be a positive integer (got '$LIST_N')"
listing_speed() {
    local label=$1 prefix=$2 start_from=${3:-support} port job wall requests units listed minimum
    rm -f "$TMP/list.port"
    "$PYTHON" -S scripts/azure_emulator.py --port 0 --port-file "$TMP/list.port" --synthetic "$LIST_N" \
        --synthetic-container "$CONTAINER" --synthetic-prefix "$prefix" --latency-ms "$LIST_LATENCY" \
        --start-from "$start_from" \
        2>"$TMP/emulator.$label.log" &
    LIST_EMULATOR_PID=$!
    for _ in $(seq 1 300); do
        [[ -s $TMP/list.port ]] && break
        kill -0 "$LIST_EMULATOR_PID" 2>/dev/null || die "the emulator exited (see $TMP/emulator.$label.log)"
        sleep 0.1
    done
    [[ -s $TMP/list.port ]] || die "the emulator did not start in 30 s"
    port=$(<"$TMP/list.port")
    job="scale-list-$label"
    local e0 r0 user sys rss cpu_e cpu_r
    e0=$(proc_cpu "$LIST_EMULATOR_PID")
    r0=$(redis_cpu)
    if ! BLOBFERRY_JOB=$job BLOBFERRY_LISTERS=16 \
        AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$AZURE_ACCOUNT;AccountKey=$AZURE_KEY;BlobEndpoint=http://127.0.0.1:$port/$AZURE_ACCOUNT;" \
        /usr/bin/time -f '%e %U %S %M' -o "$TMP/time.list-$label" \
        "$BIN/blobferry-producer" >"$TMP/producer.list-$label.log" 2>&1; then
        tail -20 "$TMP/producer.list-$label.log" >&2
        die "producer (listing $label) failed"
    fi
    read -r wall user sys rss < <(tail -1 "$TMP/time.list-$label")
    cpu_e=$(awk -v a="$e0" -v b="$(proc_cpu "$LIST_EMULATOR_PID")" 'BEGIN {printf "%.1f", b - a}')
    cpu_r=$(awk -v a="$r0" -v b="$(redis_cpu)" 'BEGIN {printf "%.1f", b - a}')
    requests=$(curl -s "http://127.0.0.1:$port/__admin/stats" | jq -r '.by_operation.ListBlobs')
    units=$(rcli HLEN "blobferry:$job:units")
    listed=$(rcli HGET "blobferry:$job:stats" listed)
    check "listed ($label)" "$listed" "$LIST_N"
    minimum=$(((LIST_N + 4999) / 5000))
    kill "$LIST_EMULATOR_PID" 2>/dev/null || true
    wait "$LIST_EMULATOR_PID" 2>/dev/null || true
    LIST_EMULATOR_PID=""
    echo "  $label: wall ${wall} s, ${requests} list requests (minimum ${minimum}; goal at most $((minimum * 12 / 10)) + ${units} units = $((minimum * 12 / 10 + units))), ${units} listing units, listed ${listed}"
    echo "    CPU seconds: producer $(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.1f", u + s}'), emulator ${cpu_e}, redis-server ${cpu_r}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    LIST_WALL[$label]=$wall
}
declare -A LIST_WALL
run_listing_speed() {
    echo "== listing speed: $LIST_N names, ${LIST_LATENCY} ms per request, 16 listers"
    if [[ ${SCALE_LIST_SWEEP:-1} == 1 ]]; then
        echo "  without startFrom (the emulator rejects it): the listing of before issue 9, a catch-all sweep"
        listing_speed uniform-sweep "" reject
        listing_speed skewed-sweep "uploads/" reject
        echo "  with startFrom: gaps and sub-ranges"
    fi
    listing_speed uniform ""
    listing_speed skewed "uploads/"
    echo "  skewed / uniform wall time: $(awk -v a="${LIST_WALL[skewed]}" -v b="${LIST_WALL[uniform]}" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}') (goal: at most 1.5)"
}
if [[ ${SCALE_LIST_ONLY:-0} == 1 ]]; then
    run_listing_speed
    echo "== summary"
    echo "  listing speed  $( ((FAILED)) && echo FAILED || echo OK)"
    exit "$FAILED"
fi
MEM0=$(used_memory)
# The synthetic blobs' Last-Modified is the emulator's start: leave that second behind, or
# pass 2 (a delta pass: at or after pass 1's start by Azure's clock) would copy them again.
sleep 1.2
echo "== run 1: producer lists $N synthetic blobs into Redis $REDIS_VERSION (listers: ${BLOBFERRY_LISTERS:-default})"
run_producer first
MEM1=$(used_memory)
LISTED=$(status_field listed) QUEUED=$(status_field queued)
echo "  listed $LISTED, enqueued $(stat_field enqueued), queued $QUEUED (status: producer $(status_field producer), pass $(status_field pass))"
check "listed" "$LISTED" "$N"
check "queued" "$QUEUED" "$N"
check "enqueued" "$(stat_field enqueued)" "$N"
report_run
echo "  Redis used_memory ${MEM0} -> ${MEM1} bytes: $(per_key "$MEM0" "$MEM1" "$QUEUED") bytes per queued key"

echo "== simulate a finished migration: every queued key moves to its partition's done set"
# One call moves up to ARGV[1] keys of one queue (RPOP count + SADD), returning how many
# it moved and their total bytes; called until the queue is empty, so Redis never blocks
# for long.
MOVE='local items = redis.call("RPOP", KEYS[1], tonumber(ARGV[1]))
if not items then return {0, 0} end
redis.call("SADD", KEYS[2], unpack(items))
local bytes = 0
for _, k in ipairs(items) do bytes = bytes + #k end
return {#items, bytes}'
SHA=$(rcli SCRIPT LOAD "$MOVE")
MOVED=0 KEY_BYTES=0
while read -r queue; do
    done_set=${queue%:queue}:done
    while :; do
        mapfile -t reply < <(rcli EVALSHA "$SHA" 2 "$queue" "$done_set" 5000)
        ((reply[0] > 0)) || break
        MOVED=$((MOVED + reply[0])) KEY_BYTES=$((KEY_BYTES + reply[1]))
    done
done < <(rcli --scan --pattern "blobferry:$JOB:p:*:queue")
MEM2=$(used_memory)
AVG_KEY=$(awk -v b="$KEY_BYTES" -v n="$MOVED" 'BEGIN {printf "%.1f", (n > 0 ? b / n : 0)}')
check "keys moved to done sets" "$MOVED" "$N"
echo "  moved $MOVED keys (average key ${AVG_KEY} bytes of UTF-8)"
echo "  Redis used_memory ${MEM0} -> ${MEM2} bytes: $(per_key "$MEM0" "$MEM2" "$MOVED") bytes per done key (right after the move)"

echo "== run 2: a new pass over the same $N names (everything is done: nothing to enqueue)"
run_producer second
MEM3=$(used_memory)
check "listed (pass 2)" "$(status_field listed)" "$N"
check "skipped (pass 2)" "$(status_field skipped)" "$N"
check "enqueued (pass 2)" "$(stat_field enqueued)" "0"
check "queued (pass 2)" "$(status_field queued)" "0"
echo "  pass $(status_field pass): listed $(status_field listed), skipped $(status_field skipped), enqueued $(stat_field enqueued)"
report_run
# A bulk-filled set can be left mid-way through Redis' incremental rehash (old and new
# tables both allocated); pass 2's lookups finish it, so this is the settled figure.
echo "  Redis used_memory ${MEM0} -> ${MEM3} bytes: $(per_key "$MEM0" "$MEM3" "$MOVED") bytes per done key once the sets' rehashing settled"

run_listing_speed

echo "== summary"
echo "  N=$N  Redis $REDIS_VERSION  $( ((FAILED)) && echo FAILED || echo OK)"
exit "$FAILED"
