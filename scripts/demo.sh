#!/usr/bin/env bash
# make demo: local Redis, SeaweedFS (S3, SigV4 on) and the Azure emulator; a seeded
# container; one producer and three consumers; then status and a byte-for-byte check.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${DEMO_BLOBS:-3000}
CONSUMERS=${DEMO_CONSUMERS:-3}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "building blobferry (release)"
swift build -c release 2>&1 | grep -E "error|warning: unre|Compiling|Build complete" | tail -3
BIN=$(swift build -c release --show-bin-path)

step "starting Redis, SeaweedFS S3 and the Azure emulator on loopback"
scripts/services.sh start redis s3 azure
# shellcheck disable=SC1091
source .run/services.env
if [ -z "${KEEP_SERVICES:-}" ]; then trap 'scripts/services.sh stop' EXIT; fi

export BLOBFERRY_JOB="demo-$(date +%H%M%S)"
export BLOBFERRY_REDIS_URL="$BLOBFERRY_TEST_REDIS_URL"
export AZURE_STORAGE_CONNECTION_STRING="$BLOBFERRY_TEST_AZURE_CONNECTION_STRING"
export BLOBFERRY_SOURCE_CONTAINER="demo-source"
export BLOBFERRY_DEST_BUCKET="demo-destination"
export AWS_ENDPOINT_URL_S3="$BLOBFERRY_TEST_S3_ENDPOINT"
export AWS_ACCESS_KEY_ID="$BLOBFERRY_TEST_S3_ACCESS_KEY"
export AWS_SECRET_ACCESS_KEY="$BLOBFERRY_TEST_S3_SECRET_KEY"
export AWS_REGION="$BLOBFERRY_TEST_S3_REGION"

step "seeding $COUNT blobs (awkward names included) with Microsoft's azure-storage-blob SDK"
python3 scripts/seed_azure.py --count "$COUNT" --container "$BLOBFERRY_SOURCE_CONTAINER"
python3 - <<'PY'
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name=os.environ["AWS_REGION"])
try:
    s3.create_bucket(Bucket=os.environ["BLOBFERRY_DEST_BUCKET"])
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
print("bucket", os.environ["BLOBFERRY_DEST_BUCKET"], "ready")
PY

step "producer: listing 63 partitions in parallel into Redis"
"$BIN/blobferry-producer"

step "$CONSUMERS consumers copying in parallel"
logs=.run/demo
mkdir -p "$logs"
pids=()
for n in $(seq 1 "$CONSUMERS"); do
    /usr/bin/time -f "consumer-$n: peak RSS %M KiB, CPU %U s user + %S s system, %e s wall" \
        -o "$logs/consumer-$n.time" "$BIN/blobferry-consumer" --id "demo-consumer-$n" \
        > "$logs/consumer-$n.out" 2> "$logs/consumer-$n.log" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
cat "$logs"/consumer-*.out "$logs"/consumer-*.time
[ "$failed" = 0 ] || { echo "a consumer failed; logs in $logs"; exit 1; }

step "blobferry status"
"$BIN/blobferry" status

step "what redis-cli shows (see README: Redis key layout)"
port=${BLOBFERRY_TEST_REDIS_URL##*:}; port=${port%%/*}
rc() { echo "\$ redis-cli $*"; redis-cli -p "$port" "$@"; }
rc LLEN "blobferry:$BLOBFERRY_JOB:p:A:queue"
rc SCARD "blobferry:$BLOBFERRY_JOB:p:A:done"
rc SISMEMBER "blobferry:$BLOBFERRY_JOB:p:_other:done" "~tilde-first"
rc HGETALL "blobferry:$BLOBFERRY_JOB:stats"

step "verifying every object in S3 against its source blob by MD5"
"$BIN/blobferry" verify
