#!/usr/bin/env bash
# Local services for blobferry's tests and demo, each on a free loopback port:
#   redis  redis-server, no persistence, data dir under .run/redis
#   s3     SeaweedFS (`weed mini`) with SigV4 enforced: one identity, everything else 403
#   moto   moto_server: exact S3 key semantics (SeaweedFS rewrites some keys, see below)
#   azure  scripts/azure_emulator.py (the project's Azure Blob emulator)
#
# Usage:
#   scripts/services.sh start [redis|s3|moto|azure ...]   default: all four; running ones are kept
#   scripts/services.sh stop  [redis|s3|moto|azure ...]   default: all; idempotent
#   scripts/services.sh status
#
# `start` writes .run/services.env (`export NAME=value` lines for the running services) and
# waits until every service answers, or exits non-zero naming the service and its log under
# .run/logs/. `stop` stops exactly the processes `start` recorded under .run/pids/ and wipes
# their data. SeaweedFS limits to keep in mind: it rewrites '\' to '/' and collapses '//',
# strips a leading '/', and refuses keys with a path segment over 255 bytes; tests that need
# exact keys use moto.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${BLOBFERRY_RUN_DIR:-$ROOT/.run}
PIDS=$RUN/pids
LOGS=$RUN/logs
FRAGMENTS=$RUN/env
ENV_FILE=$RUN/services.env
TIMEOUT=${BLOBFERRY_SERVICES_TIMEOUT:-60}
PYTHON=${PYTHON:-python3}
ALL_SERVICES=(redis s3 moto azure)

S3_ACCESS_KEY=blobferry-test
S3_SECRET_KEY=blobferry-test-secret-key
S3_REGION=us-east-1
AZURE_ACCOUNT=devstoreaccount1
# The well-known Azurite development key (public).
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

die() { echo "services.sh: $*" >&2; exit 1; }

# Prints N distinct loopback ports that were free a moment ago (the kernel picks them).
free_ports() {
    "$PYTHON" -S -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# A service is running when its pid file names a live process whose command line still
# holds the marker recorded at start (so a recycled pid is never mistaken for ours).
is_running() {
    local file=$PIDS/$1.pid pid marker
    [[ -f $file ]] || return 1
    read -r pid marker <"$file" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

pid_of() { read -r pid _ <"$PIDS/$1.pid" && echo "$pid"; }

# Whether the recorded process still exists (not yet reaped counts as gone). Used during
# startup, when the command line may still be a pyenv shim's.
is_alive() {
    local pid state
    pid=$(pid_of "$1" 2>/dev/null) || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# The real executable behind a command: pyenv shims cost a bash + pyenv start each time.
executable() {
    local path
    path=$(command -v "$1") || die "$1 not found: run scripts/install-deps.sh"
    if [[ $path == */shims/* ]] && command -v pyenv >/dev/null; then
        path=$(pyenv which "$1" 2>/dev/null) || die "$1 not found by pyenv: run scripts/install-deps.sh"
    fi
    echo "$path"
}

# Starts a command in its own session (so the caller's Ctrl-C or exit leaves it alone;
# `stop` ends it), output in .run/logs/NAME.log, without the lock's descriptor 9 (a
# service holding it would block every later services.sh). From a script, setsid execs
# the command in place, so $! is the service's own pid.
spawn() {
    local name=$1 marker=$2
    shift 2
    setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
    echo "$! $marker" >"$PIDS/$name.pid"
}

start_redis() {
    local port bin
    bin=$(executable redis-server)
    port=$(free_ports 1)
    rm -rf "$RUN/redis" && mkdir -p "$RUN/redis"
    command -v redis-server >/dev/null || die "redis-server not found: run scripts/install-deps.sh"
    # redis-server rewrites its command line to "redis-server 127.0.0.1:PORT".
    spawn redis "127.0.0.1:$port" "$bin" --port "$port" --bind 127.0.0.1 --save "" \
        --appendonly no --dir "$RUN/redis" --protected-mode yes --daemonize no
    echo "export BLOBFERRY_TEST_REDIS_URL=redis://127.0.0.1:$port/0" >"$FRAGMENTS/redis.env"
    echo "$port" >"$RUN/redis.port"
}

start_s3() {
    local ports master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc admin admin_grpc bin
    bin=$(executable weed)
    ports=$(free_ports 10)
    read -r master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc admin admin_grpc <<<"$ports"
    rm -rf "$RUN/weed" && mkdir -p "$RUN/weed/data"
    cat >"$RUN/weed/s3.json" <<EOF
{"identities": [{"name": "blobferry",
  "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    # Every port is pinned (gRPC defaults to port+10000, which may not exist), telemetry,
    # WebDAV, the admin UI and the Iceberg/Lance endpoints are off: nothing leaves loopback.
    spawn s3 "-s3.port=$s3" "$bin" mini -dir="$RUN/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
        -volume.port="$volume" -volume.port.grpc="$volume_grpc" \
        -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
        -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$RUN/weed/s3.json" -admin.ui=false -admin.port="$admin" \
        -admin.port.grpc="$admin_grpc" -webdav=false
    echo "$ports" >"$RUN/weed/ports"
    cat >"$FRAGMENTS/s3.env" <<EOF
export BLOBFERRY_TEST_S3_ENDPOINT=http://127.0.0.1:$s3
export BLOBFERRY_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY
export BLOBFERRY_TEST_S3_SECRET_KEY=$S3_SECRET_KEY
export BLOBFERRY_TEST_S3_REGION=$S3_REGION
EOF
    echo "$s3" >"$RUN/s3.port"
}

start_moto() {
    local port bin
    bin=$(executable moto_server)
    port=$(free_ports 1)
    spawn moto "-p $port" "$bin" -H 127.0.0.1 -p "$port"
    echo "export BLOBFERRY_TEST_MOTO_ENDPOINT=http://127.0.0.1:$port" >"$FRAGMENTS/moto.env"
    echo "$port" >"$RUN/moto.port"
}

start_azure() {
    local bin
    bin=$(executable "$PYTHON")
    rm -f "$RUN/azure.port"
    spawn azure "--port-file $RUN/azure.port" "$bin" -S "$ROOT/scripts/azure_emulator.py" \
        --host 127.0.0.1 --port 0 --port-file "$RUN/azure.port" \
        --account "$AZURE_ACCOUNT" --key "$AZURE_KEY"
}

# The azure port is known only once the emulator wrote it, so its env comes after readiness.
write_azure_fragment() {
    local endpoint
    endpoint="http://127.0.0.1:$(cat "$RUN/azure.port")/$AZURE_ACCOUNT"
    cat >"$FRAGMENTS/azure.env" <<EOF
export BLOBFERRY_TEST_AZURE_ENDPOINT=$endpoint
export BLOBFERRY_TEST_AZURE_ACCOUNT=$AZURE_ACCOUNT
export BLOBFERRY_TEST_AZURE_KEY='$AZURE_KEY'
export BLOBFERRY_TEST_AZURE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$AZURE_ACCOUNT;AccountKey=$AZURE_KEY;BlobEndpoint=$endpoint;'
EOF
}

http_status() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" 2>/dev/null || true; }

# PING over bash's /dev/tcp, in a subshell so the descriptor and its errors stay there.
redis_ping() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        read -r -t 2 reply <&3 || exit 1
        [[ $reply == +PONG* ]]
    ) 2>/dev/null
}

# One readiness probe per service: true once it serves real requests.
probe() {
    case $1 in
    redis) redis_ping "$(cat "$RUN/redis.port")" ;;
    s3)
        [[ $(http_status --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
            "http://127.0.0.1:$(cat "$RUN/s3.port")/") == 200 ]]
        ;;
    moto) [[ $(http_status "http://127.0.0.1:$(cat "$RUN/moto.port")/") == 200 ]] ;;
    azure) [[ -f $RUN/azure.port ]] && [[ $(http_status "http://127.0.0.1:$(cat "$RUN/azure.port")/__admin/stats") == 200 ]] ;;
    esac
}

# Waits until NAME answers; on failure prints its log's tail and one line naming it, stops
# it, and returns 1 (the caller still records the services that did start).
wait_ready() {
    local name=$1 deadline=$((SECONDS + TIMEOUT)) problem=""
    until probe "$name"; do
        if ! is_alive "$name"; then
            problem="exited during startup"
        elif ((SECONDS >= deadline)); then
            problem="did not answer within $TIMEOUT s"
        else
            sleep 0.1
            continue
        fi
        tail -n 20 "$LOGS/$name.log" >&2 || true
        stop_one "$name"
        echo "services.sh: $name $problem; see $LOGS/$name.log" >&2
        return 1
    done
}

# SigV4 must really be enforced: a request signed with a wrong secret has to be refused.
check_s3_auth() {
    local status
    status=$(http_status --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:wrong-secret" \
        "http://127.0.0.1:$(cat "$RUN/s3.port")/")
    [[ $status == 403 ]] || die "SeaweedFS accepted a wrong secret (HTTP $status): check $RUN/weed/s3.json"
}

stop_one() {
    local name=$1 pid
    if is_running "$name"; then
        pid=$(pid_of "$name")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            [[ -d /proc/$pid ]] || break
            sleep 0.1
        done
        if [[ -d /proc/$pid ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$PIDS/$name.pid" "$FRAGMENTS/$name.env" "$RUN/$name.port"
    case $name in
    redis) rm -rf "$RUN/redis" ;;
    s3)
        # weed leaves Unix sockets named after its ports in /tmp; remove only ours.
        local port ports=()
        [[ -f $RUN/weed/ports ]] && read -r -a ports <"$RUN/weed/ports"
        for port in "${ports[@]}"; do rm -f /tmp/seaweedfs-*-"$port".sock; done
        rm -rf "$RUN/weed"
        ;;
    esac
}

write_env() {
    local temporary=$ENV_FILE.tmp.$$
    {
        echo "# Written by scripts/services.sh; source it before running tests."
        for name in "${ALL_SERVICES[@]}"; do
            [[ -f $FRAGMENTS/$name.env ]] && is_running "$name" && cat "$FRAGMENTS/$name.env"
        done
        true
    } >"$temporary"
    mv "$temporary" "$ENV_FILE"
}

check_names() {
    local name known
    for name in "$@"; do
        known=no
        for service in "${ALL_SERVICES[@]}"; do [[ $name == "$service" ]] && known=yes; done
        [[ $known == yes ]] || die "unknown service '$name' (known: ${ALL_SERVICES[*]})"
    done
}

cmd_start() {
    local name started=()
    for name in "$@"; do
        if is_running "$name"; then continue; fi
        stop_one "$name"  # clears stale files of a service that died
        "start_$name"
        started+=("$name")
    done
    local ready=() failed=()
    for name in "${started[@]}"; do
        if wait_ready "$name"; then
            [[ $name == azure ]] && write_azure_fragment
            [[ $name == s3 ]] && check_s3_auth
            ready+=("$name")
        else
            failed+=("$name")
        fi
    done
    write_env
    if ((${#ready[@]})); then echo "services.sh: started ${ready[*]}; env in $ENV_FILE" >&2; fi
    ((${#failed[@]} == 0)) || die "failed to start: ${failed[*]} (logs in $LOGS)"
}

cmd_stop() {
    local name
    for name in "$@"; do stop_one "$name"; done
    write_env
}

cmd_status() {
    local name
    for name in "${ALL_SERVICES[@]}"; do
        if is_running "$name"; then echo "$name running (pid $(pid_of "$name"))"; else echo "$name stopped"; fi
    done
}

main() {
    local command=${1:-}
    shift || true
    [[ $# -gt 0 ]] || set -- "${ALL_SERVICES[@]}"
    check_names "$@"
    mkdir -p "$PIDS" "$LOGS" "$FRAGMENTS"
    # One services.sh at a time per run dir: parallel `make test` runs must not race.
    exec 9>"$RUN/services.lock"
    flock 9
    case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    *) die "usage: scripts/services.sh start|stop|status [redis s3 moto azure]" ;;
    esac
}

main "$@"
