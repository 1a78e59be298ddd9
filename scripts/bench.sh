#!/usr/bin/env bash
# make bench: blobferry against rclone on the same data, over plain HTTP and over HTTPS.
#
#   make bench                          # or: BENCH_BLOBS=1000 BENCH_RUNS=1 scripts/bench.sh
#
# Builds release, starts its own Redis, SeaweedFS (S3) and Azure emulator (scripts/services.sh
# with the run dir .run/bench, so a `make test` next door is left alone), seeds one container
# with BENCH_BLOBS blobs of log-normal size (mean about 33 KiB), sets the emulator's added
# latency, and puts stunnel in front of the emulator and SeaweedFS with a throwaway CA
# (RSA 2048). Both tools trust one CA file: the system bundle plus that CA (blobferry through
# SSL_CERT_FILE, rclone through --ca-cert), so the cost of a full bundle is measured and the
# machine's trust store is left alone. Then, BENCH_RUNS times, for each mode (http, https):
#   blobferry  blobferry-producer and one blobferry-consumer started together (concurrency
#              64, the default), each under /usr/bin/time; redis-server's CPU from INFO cpu
#   rclone     rclone copy SRC DST --transfers 64 --checkers 64, under /usr/bin/time
# each into a fresh bucket, and prints objects/s, CPU per object (user+sys; for blobferry
# producer + consumer + redis-server), peak RSS, and each ratio to rclone. It counts the
# objects that arrived but asserts nothing: it is a benchmark, not a test.
#
# Knobs: BENCH_BLOBS (3000), BENCH_RUNS (2), BENCH_MODES ("http https"), BENCH_TOOLS
# ("blobferry rclone"), BENCH_LATENCY_MS (20, added to every Azure request), BENCH_MEAN_BYTES
# (33792), BENCH_CONCURRENCY (64: blobferry's concurrency and rclone's --transfers/--checkers),
# BENCH_PERF=1 (record the blobferry consumer with `perf record -g` into .run/bench/perf-*.data;
# BENCH_PERF_OPTIONS="--call-graph dwarf" for stacks through libcrypto, which has no frame
# pointers; perf's overhead makes that run's numbers worthless), BENCH_KEEP=1 (leave the
# services up).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BLOBS=${BENCH_BLOBS:-3000}
RUNS=${BENCH_RUNS:-2}
MODES=${BENCH_MODES:-http https}
TOOLS=${BENCH_TOOLS:-blobferry rclone}
LATENCY_MS=${BENCH_LATENCY_MS:-20}
MEAN_BYTES=${BENCH_MEAN_BYTES:-33792}
CONCURRENCY=${BENCH_CONCURRENCY:-64}
PYTHON=${PYTHON:-python3}
SWIFT=${SWIFT:-swift}
export BLOBFERRY_RUN_DIR=$ROOT/.run/bench
OUT=$BLOBFERRY_RUN_DIR/results
CONTAINER=bench-source
ACCOUNT=devstoreaccount1

die() { echo "bench.sh: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }
[[ $BLOBS =~ ^[1-9][0-9]*$ ]] || die "BENCH_BLOBS must be a positive integer (got '$BLOBS')"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer (got '$RUNS')"

step "installing what is missing (scripts/install-deps.sh: rclone, stunnel4, time, openssl ...)"
scripts/install-deps.sh
if [[ ${BENCH_PERF:-0} == 1 ]] && ! command -v perf >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null || die "apt-get install linux-perf failed"
fi
for tool in rclone stunnel4 openssl redis-cli; do
    command -v "$tool" >/dev/null || die "$tool not found after scripts/install-deps.sh"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"

STUNNEL_PID=""
cleanup() {
    local rc=$?
    if [[ -n $STUNNEL_PID ]]; then
        kill "$STUNNEL_PID" 2>/dev/null || true
        wait "$STUNNEL_PID" 2>/dev/null || true
    fi
    if [[ ${BENCH_KEEP:-0} != 1 ]]; then scripts/services.sh stop >/dev/null 2>&1 || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$BLOBFERRY_RUN_DIR"
step "building release"
"$SWIFT" build -c release >"$BLOBFERRY_RUN_DIR/build.log" 2>&1 ||
    { tail -30 "$BLOBFERRY_RUN_DIR/build.log" >&2; die "release build failed"; }
BIN=$("$SWIFT" build -c release --show-bin-path)
# Each tool is told which CA file to trust and nothing else: variables some machines set
# (AWS_CA_BUNDLE makes rclone's S3 SDK refuse its own transport) are dropped for the runs.
unset AWS_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE

step "starting Redis, SeaweedFS and the Azure emulator (run dir .run/bench)"
scripts/services.sh stop >/dev/null 2>&1 || true
scripts/services.sh start redis s3 azure
# shellcheck disable=SC1091
source "$BLOBFERRY_RUN_DIR/services.env"
rm -rf "$OUT" && mkdir -p "$OUT"
REDIS_PORT=${BLOBFERRY_TEST_REDIS_URL##*:}
REDIS_PORT=${REDIS_PORT%%/*}
AZURE_HTTP=$BLOBFERRY_TEST_AZURE_ENDPOINT  # http://127.0.0.1:PORT/devstoreaccount1
AZURE_PORT=$(cat "$BLOBFERRY_RUN_DIR/azure.port")
S3_HTTP=$BLOBFERRY_TEST_S3_ENDPOINT
S3_PORT=$(cat "$BLOBFERRY_RUN_DIR/s3.port")

free_ports() {
    "$PYTHON" -S -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

step "TLS: a throwaway CA, a server certificate for 127.0.0.1, stunnel in front of both services"
TLS=$BLOBFERRY_RUN_DIR/tls
rm -rf "$TLS" && mkdir -p "$TLS"
SYSTEM_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[[ -s $SYSTEM_BUNDLE ]] || die "no system CA bundle at $SYSTEM_BUNDLE (apt-get install ca-certificates)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/ca.key" -out "$TLS/ca.pem" -days 2 \
    -subj "/CN=blobferry bench throwaway CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$TLS/server.key" -out "$TLS/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$TLS/server.ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
    -out "$TLS/server.pem" -days 2 -extfile "$TLS/server.ext" 2>/dev/null
cat "$SYSTEM_BUNDLE" "$TLS/ca.pem" >"$TLS/bundle.pem"
CA_COUNT=$(grep -c 'BEGIN CERTIFICATE' "$TLS/bundle.pem")
read -r AZURE_TLS_PORT S3_TLS_PORT <<<"$(free_ports 2)"
cat >"$TLS/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
output = $TLS/stunnel.log
[azure]
accept = 127.0.0.1:$AZURE_TLS_PORT
connect = 127.0.0.1:$AZURE_PORT
cert = $TLS/server.pem
key = $TLS/server.key
[s3]
accept = 127.0.0.1:$S3_TLS_PORT
connect = 127.0.0.1:$S3_PORT
cert = $TLS/server.pem
key = $TLS/server.key
EOF
setsid stunnel4 "$TLS/stunnel.conf" >"$TLS/stunnel.out" 2>&1 </dev/null &
STUNNEL_PID=$!
AZURE_HTTPS=https://127.0.0.1:$AZURE_TLS_PORT/$ACCOUNT
S3_HTTPS=https://127.0.0.1:$S3_TLS_PORT
for _ in $(seq 1 100); do
    if curl -s -o /dev/null --cacert "$TLS/bundle.pem" "https://127.0.0.1:$AZURE_TLS_PORT/__admin/stats" &&
        curl -s -o /dev/null --cacert "$TLS/bundle.pem" "$S3_HTTPS/"; then
        break
    fi
    kill -0 "$STUNNEL_PID" 2>/dev/null || { cat "$TLS/stunnel.out" "$TLS/stunnel.log" >&2 || true; die "stunnel exited"; }
    sleep 0.1
done
curl -s -o /dev/null --cacert "$TLS/bundle.pem" "$S3_HTTPS/" || die "stunnel does not answer (see $TLS)"
echo "stunnel: $AZURE_HTTPS -> :$AZURE_PORT, $S3_HTTPS -> :$S3_PORT; CA file of $CA_COUNT certificates"

step "seeding $BLOBS blobs of log-normal size into $CONTAINER"
AZURE_STORAGE_CONNECTION_STRING=$BLOBFERRY_TEST_AZURE_CONNECTION_STRING \
    "$PYTHON" scripts/bench_seed.py --count "$BLOBS" --container "$CONTAINER" --mean "$MEAN_BYTES"
# One account SAS (read + list) for both tools: the same credential, the same signing work.
SAS=$(BENCH_KEY=$BLOBFERRY_TEST_AZURE_KEY "$PYTHON" - <<'PY'
import datetime, os
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
print(generate_account_sas("devstoreaccount1", os.environ["BENCH_KEY"],
    ResourceTypes(service=True, container=True, object=True), AccountSasPermissions(read=True, list=True),
    datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)))
PY
)
curl -sf -o /dev/null -X POST -d "{\"latency_ms\": $LATENCY_MS}" "http://127.0.0.1:$AZURE_PORT/__admin/config" ||
    die "cannot set the emulator's latency"

cat >"$OUT/rclone.conf" <<EOF
[az-http]
type = azureblob
sas_url = $AZURE_HTTP?$SAS

[az-https]
type = azureblob
sas_url = $AZURE_HTTPS?$SAS

[s3-http]
type = s3
provider = Other
access_key_id = $BLOBFERRY_TEST_S3_ACCESS_KEY
secret_access_key = $BLOBFERRY_TEST_S3_SECRET_KEY
region = $BLOBFERRY_TEST_S3_REGION
endpoint = $S3_HTTP
force_path_style = true

[s3-https]
type = s3
provider = Other
access_key_id = $BLOBFERRY_TEST_S3_ACCESS_KEY
secret_access_key = $BLOBFERRY_TEST_S3_SECRET_KEY
region = $BLOBFERRY_TEST_S3_REGION
endpoint = $S3_HTTPS
force_path_style = true
EOF

# Bucket administration over plain HTTP (boto3): create before a run, count after it.
s3_admin() {
    AWS_ACCESS_KEY_ID=$BLOBFERRY_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BLOBFERRY_TEST_S3_SECRET_KEY \
        "$PYTHON" - "$S3_HTTP" "$BLOBFERRY_TEST_S3_REGION" "$@" <<'PY'
import sys, boto3
endpoint, region, action, bucket = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
if action == "create":
    s3.create_bucket(Bucket=bucket)
else:
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        count += page.get("KeyCount", 0)
    print(count)
PY
}

redis_cpu() {
    redis-cli -p "$REDIS_PORT" info cpu | tr -d '\r' |
        awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { total += $2 } END { printf "%.3f\n", total }'
}
# Redis commands so far: "<EVAL/EVALSHA/FCALL calls> <all commands, those run inside scripts included>"
redis_calls() {
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[:=,]' '
        /^cmdstat_(info|flushall)$/ { next }
        /^cmdstat_/ { all += $3; if ($1 ~ /^cmdstat_(eval|evalsha|fcall|fcall_ro|eval_ro|evalsha_ro)$/) scripts += $3 }
        END { printf "%d %d\n", scripts, all }'
}
azure_requests() {
    curl -sf "http://127.0.0.1:$AZURE_PORT/__admin/stats" | "$PYTHON" -c '
import json, sys
stats = json.load(sys.stdin)
print(stats["requests"], sum(v for k, v in stats["by_status"].items() if not k.startswith("2")))'
}
# "/usr/bin/time -f '%e %U %S %M'" output -> "wall cpu rss_kib"
read_time() { awk 'NF == 4 { printf "%s %.3f %s\n", $1, $2 + $3, $4 }' "$1"; }

# Runs one tool once; appends "mode tool run wall cpu objects rss_kib rss2_kib scripts all
# azure_requests azure_errors" to $OUT/results.tsv and prints a line.
run_one() {
    local mode=$1 tool=$2 run=$3 dir=$OUT/$1-$2-$3 bucket azure s3 start end
    bucket="bench-$tool-$mode-$run"
    mkdir -p "$dir"
    s3_admin create "$bucket"
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$AZURE_PORT/__admin/stats/reset"
    if [[ $mode == https ]]; then azure=$AZURE_HTTPS s3=$S3_HTTPS; else azure=$AZURE_HTTP s3=$S3_HTTP; fi
    local wall cpu rss rss2="-" scripts="-" all="-"
    if [[ $tool == blobferry ]]; then
        local redis_before redis_after calls_before calls_after consumer=("$BIN/blobferry-consumer")
        if [[ ${BENCH_PERF:-0} == 1 ]]; then
            # shellcheck disable=SC2206
            consumer=(perf record ${BENCH_PERF_OPTIONS:--g} -o "$BLOBFERRY_RUN_DIR/perf-$mode-$run.data" --
                "$BIN/blobferry-consumer")
        fi
        redis_before=$(redis_cpu)
        calls_before=$(redis_calls)
        start=$(date +%s.%N)
        (
            export BLOBFERRY_JOB="bench-$mode-$run-$$" BLOBFERRY_REDIS_URL=$BLOBFERRY_TEST_REDIS_URL
            export BLOBFERRY_SOURCE_ENDPOINT=$azure AZURE_STORAGE_ACCOUNT=$ACCOUNT AZURE_STORAGE_SAS_TOKEN=$SAS
            export BLOBFERRY_SOURCE_CONTAINER=$CONTAINER BLOBFERRY_DEST_BUCKET=$bucket AWS_ENDPOINT_URL_S3=$s3
            export AWS_ACCESS_KEY_ID=$BLOBFERRY_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BLOBFERRY_TEST_S3_SECRET_KEY
            export AWS_REGION=$BLOBFERRY_TEST_S3_REGION BLOBFERRY_CONCURRENCY=$CONCURRENCY
            unset AZURE_STORAGE_KEY AZURE_STORAGE_CONNECTION_STRING
            [[ $mode == https ]] && export SSL_CERT_FILE=$TLS/bundle.pem
            /usr/bin/time -f '%e %U %S %M' -o "$dir/producer.time" "$BIN/blobferry-producer" \
                >"$dir/producer.log" 2>&1 &
            local producer=$!
            /usr/bin/time -f '%e %U %S %M' -o "$dir/consumer.time" "${consumer[@]}" --id bench \
                >"$dir/consumer.log" 2>&1 &
            local consumer_pid=$! rc=0
            wait "$producer" || rc=1
            wait "$consumer_pid" || rc=1
            exit $rc
        ) || echo "bench.sh: blobferry exited non-zero (logs in $dir)" >&2
        end=$(date +%s.%N)
        redis_after=$(redis_cpu)
        calls_after=$(redis_calls)
        local pw pc pr cw cc cr
        read -r pw pc pr < <(read_time "$dir/producer.time")
        read -r cw cc cr < <(read_time "$dir/consumer.time")
        cpu=$(awk -v a="$pc" -v b="$cc" -v x="$redis_before" -v y="$redis_after" 'BEGIN { printf "%.3f", a + b + y - x }')
        rss=$cr rss2=$pr
        read -r scripts all < <(awk -v b="$calls_before" -v a="$calls_after" \
            'BEGIN { split(b, x, " "); split(a, y, " "); print y[1] - x[1], y[2] - x[2] }')
    else
        local ca=()
        [[ $mode == https ]] && ca=(--ca-cert "$TLS/bundle.pem")
        start=$(date +%s.%N)
        /usr/bin/time -f '%e %U %S %M' -o "$dir/rclone.time" rclone --config "$OUT/rclone.conf" copy \
            "az-$mode:$CONTAINER" "s3-$mode:$bucket" --transfers "$CONCURRENCY" --checkers "$CONCURRENCY" \
            "${ca[@]}" >"$dir/rclone.log" 2>&1 || echo "bench.sh: rclone exited non-zero (log in $dir)" >&2
        end=$(date +%s.%N)
        read -r _ cpu rss < <(read_time "$dir/rclone.time")
    fi
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    local objects requests errors
    objects=$(s3_admin count "$bucket")
    read -r requests errors < <(azure_requests)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$tool" "$run" "$wall" "$cpu" "$objects" \
        "$rss" "$rss2" "$scripts" "$all" "$requests" "$errors" >>"$OUT/results.tsv"
    awk -v m="$mode" -v t="$tool" -v r="$run" -v w="$wall" -v c="$cpu" -v o="$objects" -v n="$BLOBS" -v s="$rss" \
        'BEGIN { printf "%-5s %-9s run %s: %5.1f s, %6.0f objects/s, %.2f ms CPU/object, peak RSS %.0f MB, %d/%d objects%s\n",
                 m, t, r, w, o / w, c * 1000 / (o > 0 ? o : 1), s / 1024, o, n, (o == n ? "" : "  INCOMPLETE") }'
    if [[ $tool == blobferry ]]; then
        # The job's keys are not needed any more; the next run starts from an empty Redis.
        redis-cli -p "$REDIS_PORT" flushall >/dev/null
    fi
}

step "runs: $RUNS x modes ($MODES) x tools ($TOOLS); $BLOBS blobs, $LATENCY_MS ms per Azure request, concurrency $CONCURRENCY"
printf 'mode\ttool\trun\twall_s\tcpu_s\tobjects\trss_kib\tproducer_rss_kib\tredis_scripts\tredis_all\tazure_requests\tazure_non2xx\n' \
    >"$OUT/results.tsv"
for run in $(seq 1 "$RUNS"); do
    for mode in $MODES; do
        for tool in $TOOLS; do run_one "$mode" "$tool" "$run"; done
    done
done

step "results ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ranges over $RUNS runs; raw: .run/bench/results/results.tsv)"
"$PYTHON" - "$OUT/results.tsv" "$BLOBS" "$LATENCY_MS" "$CA_COUNT" <<'PY'
import csv, sys
path, blobs, latency, cas = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = list(csv.DictReader(open(path), delimiter="\t"))

def metrics(row):
    objects = max(1, int(row["objects"]))
    m = {"objects/s": objects / float(row["wall_s"]),
         "CPU per object (ms)": float(row["cpu_s"]) * 1000 / objects,
         "peak RSS (MB)": int(row["rss_kib"]) / 1024,
         "wall (s)": float(row["wall_s"]),
         "Azure requests per object": int(row["azure_requests"]) / objects}
    if row["redis_scripts"] != "-":
        m["Redis script calls per object"] = int(row["redis_scripts"]) / objects
        m["Redis commands per object (in scripts too)"] = int(row["redis_all"]) / objects
        m["producer peak RSS (MB)"] = int(row["producer_rss_kib"]) / 1024
    return m

def span(values, digits):
    lo, hi = min(values), max(values)
    if f"{lo:.{digits}f}" == f"{hi:.{digits}f}":
        return f"{lo:.{digits}f}"
    return f"{lo:.{digits}f}-{hi:.{digits}f}"

digits = {"objects/s": 0, "CPU per object (ms)": 2, "peak RSS (MB)": 0, "wall (s)": 1,
          "Azure requests per object": 2, "Redis script calls per object": 3,
          "Redis commands per object (in scripts too)": 2, "producer peak RSS (MB)": 0}
for mode in dict.fromkeys(r["mode"] for r in rows):
    title = "plain HTTP" if mode == "http" else f"HTTPS (stunnel, RSA 2048, CA file of {cas} certificates)"
    print(f"\n{title}: {blobs} blobs, {latency} ms added per Azure request")
    by_tool = {}
    for row in rows:
        if row["mode"] == mode:
            by_tool.setdefault(row["tool"], []).append(metrics(row))
            if int(row["objects"]) != blobs:
                print(f"  note: {row['tool']} run {row['run']} copied {row['objects']} of {blobs} objects")
    tools = list(by_tool)
    print(f"  {'':44}" + "".join(f"{t:>14}" for t in tools) + ("   blobferry/rclone" if len(tools) == 2 else ""))
    for name in digits:
        cells, means = [], []
        for tool in tools:
            values = [m[name] for m in by_tool[tool] if name in m]
            cells.append(span(values, digits[name]) if values else "")
            means.append(sum(values) / len(values) if values else None)
        ratio = ""
        if len(tools) == 2 and tools == ["blobferry", "rclone"] and all(means) and name in (
                "objects/s", "CPU per object (ms)", "peak RSS (MB)", "wall (s)", "Azure requests per object"):
            ratio = f"{means[0] / means[1]:.2f}"
        if any(cells):
            print(f"  {name:44}" + "".join(f"{c:>14}" for c in cells) + f"{ratio:>19}")
PY
