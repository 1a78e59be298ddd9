#!/usr/bin/env bash
# Static checks of compose/ (no Docker engine runs in the project's CI):
#  - docker-compose.yml parses and has the expected services (the exporter too), and Redis
#    runs with AOF everysec and noeviction (flags, or deploy/redis/redis.conf mounted);
#  - every service's environment uses only names from config/blobferry.example.yaml
#    (plus BLOBFERRY_CONFIG), and the shared x-blobferry-env anchor covers all of them;
#  - .env.example and the ${...} interpolations agree; dev S3 keys match the identities file;
#  - the Dockerfile's build stage installs the -dev packages Package.swift names;
#  - `docker compose config -q` when a compose client is available (skipped otherwise).
# Exits non-zero on any failure. Needs bash, python3 and PyYAML.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

python3 - "$here" "$root" <<'PY'
import json, os, re, sys
import yaml

here, root = sys.argv[1], sys.argv[2]
errors = []
def check(ok, message):
    if not ok:
        errors.append(message)

compose_text = open(os.path.join(here, "docker-compose.yml"), encoding="utf-8").read()
try:
    compose = yaml.safe_load(compose_text)
except yaml.YAMLError as error:
    sys.exit(f"validate: docker-compose.yml does not parse: {error}")

# Names blobferry reads: the [NAME]s of the documented example, plus the config-file variable.
example = open(os.path.join(root, "config", "blobferry.example.yaml"), encoding="utf-8").read()
documented = set(re.findall(r"\[([A-Z][A-Z0-9_]*)\]", example))
check(len(documented) >= 20, f"found only {len(documented)} [NAME]s in config/blobferry.example.yaml")
allowed = documented | {"BLOBFERRY_CONFIG"}

services = compose.get("services") or {}
for name in ("redis", "azurite", "s3", "setup", "producer", "consumer", "exporter", "status"):
    check(name in services, f"service {name} is missing")

def env_names(environment):
    if isinstance(environment, dict):
        return set(environment)
    return {item.split("=", 1)[0] for item in environment or []}

for name, service in services.items():
    unknown = env_names(service.get("environment")) - allowed
    check(not unknown, f"service {name}: environment names not in config/blobferry.example.yaml: {sorted(unknown)}")

anchor = compose.get("x-blobferry-env") or {}
missing = documented - set(anchor)
check(not missing, f"x-blobferry-env lacks settings of the example config: {sorted(missing)}")
for name in ("producer", "consumer", "status", "setup"):
    check(env_names(services.get(name, {}).get("environment")) >= set(anchor),
          f"service {name} does not use the whole x-blobferry-env anchor")

# Service shape.
producer, consumer = services.get("producer", {}), services.get("consumer", {})
check("blobferry-producer" in str(producer.get("command")), "producer does not run blobferry-producer")
check("blobferry-consumer" in str(consumer.get("command")), "consumer does not run blobferry-consumer")
check("container_name" not in consumer, "consumer has a container_name, so it cannot be scaled")
check((consumer.get("deploy") or {}).get("replicas") is not None, "consumer has no deploy.replicas")
for name in ("producer", "consumer"):
    check(str(services.get(name, {}).get("restart", "")).startswith("on-failure"), f"{name} is not restart: on-failure")
    build = services.get(name, {}).get("build") or {}
    check(build.get("context") == ".." and build.get("dockerfile") == "compose/Dockerfile",
          f"{name} is not built from compose/Dockerfile with the repository root as context")
# Redis settings: on its command line, or in the config file it is given (a bind mount of
# deploy/redis/redis.conf), where "name value" lines are the same as "--name value".
redis = services.get("redis", {})
redis_command = " ".join(map(str, redis.get("command") or []))
for volume in redis.get("volumes") or []:
    source, _, target = str(volume).partition(":")
    target = target.split(":", 1)[0]
    if target and target in redis_command and os.path.isfile(os.path.join(here, source)):
        for line in open(os.path.join(here, source), encoding="utf-8"):
            if line.strip() and not line.lstrip().startswith("#"):
                redis_command += " --" + " ".join(line.split())
for setting in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
    check(setting in redis_command, f"redis runs without {setting} (command line or its redis.conf)")
exporter = services.get("exporter", {})
check((exporter.get("entrypoint") or [])[:2] == ["blobferry", "exporter"],
      "exporter service does not run `blobferry exporter`")
check("blobferry" in str(services.get("status", {}).get("entrypoint")) and "status" in str(services.get("status", {}).get("entrypoint")),
      "status service does not run `blobferry status`")
for name in ("redis", "azurite", "s3"):
    check("healthcheck" in services.get(name, {}), f"service {name} has no healthcheck")

# Bind mounts that point into the repository exist.
for name, service in services.items():
    for volume in service.get("volumes") or []:
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith("."):
            check(os.path.exists(os.path.join(here, source)), f"service {name} mounts missing {source}")

# .env.example <-> interpolations.
code_lines = [line for line in compose_text.splitlines() if not line.lstrip().startswith("#")]
interpolated = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", "\n".join(code_lines)))
env_example = {}
for line in open(os.path.join(here, ".env.example"), encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        key, sep, value = line.partition("=")
        check(bool(sep), f".env.example: not NAME=value: {line}")
        env_example[key] = value
stray = set(env_example) - allowed - interpolated
check(not stray, f".env.example names neither blobferry settings nor used by the compose file: {sorted(stray)}")
undocumented = interpolated - set(env_example)
check(not undocumented, f"compose variables missing from .env.example: {sorted(undocumented)}")

# The dev S3 keys are the ones the SeaweedFS identities file accepts.
identities = json.load(open(os.path.join(here, "seaweedfs-s3.json"), encoding="utf-8"))
pairs = {(c["accessKey"], c["secretKey"]) for i in identities["identities"] for c in i["credentials"]}
check((env_example.get("AWS_ACCESS_KEY_ID"), env_example.get("AWS_SECRET_ACCESS_KEY")) in pairs,
      ".env.example's AWS keys are not in seaweedfs-s3.json")
def default(name):
    match = re.search(r"\$\{" + name + r":?-([^}]*)\}", str(anchor.get(name, "")))
    return match.group(1) if match else None
check((default("AWS_ACCESS_KEY_ID"), default("AWS_SECRET_ACCESS_KEY")) in pairs,
      "the compose file's default AWS keys are not in seaweedfs-s3.json")

# Dockerfile: build stage = from the first FROM to the second.
dockerfile = open(os.path.join(here, "Dockerfile"), encoding="utf-8").read()
stages = re.split(r"(?im)^FROM\s", dockerfile)
check(len(stages) >= 3, "Dockerfile is not multi-stage")
build_stage = stages[1] if len(stages) > 1 else ""
runtime_stage = stages[-1]
for package in ("libhiredis-dev", "libcurl4-openssl-dev", "libssl-dev"):
    check(re.search(r"\b" + re.escape(package) + r"\b", build_stage), f"Dockerfile build stage does not install {package}")
check("--static-swift-stdlib" in build_stage, "Dockerfile does not build with --static-swift-stdlib")
for package in ("libhiredis0.14", "libcurl4", "libssl3", "ca-certificates"):
    check(package in runtime_stage, f"Dockerfile runtime stage does not install {package}")
check(re.search(r"(?m)^USER\s+(?!root\b|0\b)", runtime_stage), "Dockerfile runtime stage runs as root")

if errors:
    for message in errors:
        print(f"validate: FAIL {message}", file=sys.stderr)
    sys.exit(1)
print(f"validate: ok: compose file, {len(services)} services, {len(allowed)} known variables, .env.example, Dockerfile")
PY

# The compose client's own schema and interpolation check, when there is one.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "validate: skipped 'docker compose config -q' (no compose client here)"
  exit 0
fi
for env_file in "" "$here/.env.example"; do
  "${compose[@]}" -f "$here/docker-compose.yml" ${env_file:+--env-file "$env_file"} config -q
  "${compose[@]}" -f "$here/docker-compose.yml" ${env_file:+--env-file "$env_file"} --profile tools config -q
done
echo "validate: ok: ${compose[*]} config -q"
