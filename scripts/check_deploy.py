#!/usr/bin/env python3
"""Static check of deploy/ (and the blobferry commands of compose/docker-compose.yml).

Run by `make test` through scripts/tests/test_deploy.py, or alone:

    python3 scripts/check_deploy.py [--root REPO] [--deploy DIR]

What it checks, against the sources rather than a list kept by hand:
  - every file parses: YAML (multi-document), JSON, systemd units (an ini parser of its
    own with a list of known directives, plus `systemd-analyze verify` when present),
    PromQL (promql-parser, the grammar of Prometheus, on every query),
    redis.conf (plus a real redis-server started on the file when present), and the
    kustomization builds when kubectl is present;
  - every BLOBFERRY_* name anywhere in deploy/ is a setting (the [VAR]s of
    config/blobferry.example.yaml and the names in SettingDescriptor.swift); every other
    variable a file sets is a setting or one of the standard AWS/Azure/SSL variables of
    README "Credentials" (ALLOWED_STANDARD, each of which Sources must read);
  - every blobferry_* metric the Grafana dashboard or any file (the KEDA query) names is
    described in Sources (`"name": (.counter|.gauge|.histogram, ...)`), with _bucket,
    _sum and _count only on histograms; every label a query uses is one blobferry emits;
  - every command line (Kubernetes containers, systemd ExecStart, compose) runs an
    existing blobferry executable and subcommand with flags that command has;
  - Kubernetes: Secrets are referenced, never part of the kustomization nor inlined as
    values; referenced ConfigMaps, Secrets and keys exist; the service account carries the
    EKS IRSA and AKS workload identity annotations and the pods the workload identity
    label; the KEDA ScaledObject scales an existing Deployment; the Redis ConfigMap holds
    deploy/redis/redis.conf verbatim;
  - systemd: Restart=on-failure with RestartPreventExitStatus naming exit codes of README
    "Exit codes" and at least 2 (a bad setting) and 64 (bad usage);
  - redis.conf: AOF on with appendfsync everysec, maxmemory-policy noeviction, maxmemory.

Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import yaml

try:  # PromQL's real grammar (scripts/install-deps.sh installs it); brackets only without.
    import promql_parser
except ImportError:
    promql_parser = None

# Variables blobferry reads that are not settings of config/blobferry.example.yaml: the
# credential chains' and trust store's standard names (README "Credentials", "Speed").
ALLOWED_STANDARD = {
    "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL_STS",
    "AWS_CA_BUNDLE",
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
    "SSL_CERT_FILE",
}

# Names that hold secrets: never a literal value in a manifest or ConfigMap.
SECRET_NAMES = {
    "BLOBFERRY_REDIS_URL", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
}

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job", "le"}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

SYSTEMD_DIRECTIVES = {
    "Unit": {
        "Description", "Documentation", "Wants", "Requires", "After", "Before", "BindsTo",
        "PartOf", "Conflicts", "ConditionPathExists", "StartLimitIntervalSec", "StartLimitBurst",
    },
    "Service": {
        "Type", "User", "Group", "DynamicUser", "SupplementaryGroups", "WorkingDirectory",
        "Environment", "EnvironmentFile", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop",
        "ExecReload", "Restart", "RestartSec", "RestartPreventExitStatus", "RestartForceExitStatus",
        "SuccessExitStatus", "KillSignal", "KillMode", "TimeoutStartSec", "TimeoutStopSec",
        "LimitNOFILE", "MemoryMax", "MemoryHigh", "CPUQuota", "TasksMax", "Nice",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
        "PrivateUsers", "ProtectHostname", "ProtectClock", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectProc",
        "ProcSubset", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
        "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "SystemCallFilter",
        "SystemCallArchitectures", "SystemCallErrorNumber", "CapabilityBoundingSet",
        "AmbientCapabilities", "UMask", "ReadOnlyPaths", "ReadWritePaths", "InaccessiblePaths",
        "StateDirectory", "RuntimeDirectory", "LogsDirectory", "ConfigurationDirectory",
        "StandardOutput", "StandardError", "SyslogIdentifier",
    },
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"},
}


@dataclass
class Command:
    """One blobferry command as Sources/BlobferryCLI declares it."""

    name: str
    flags: set[str] = field(default_factory=set)


@dataclass
class Facts:
    """What the sources and the README say exists."""

    settings: set[str]
    metrics: dict[str, str]  # name -> counter | gauge | histogram
    labels: set[str]
    commands: dict[str, Command]  # commandName -> command
    executables: set[str]
    exit_codes: set[int]


# --------------------------------------------------------------------------- the sources


def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def swift_files(root: str, under: str) -> list[str]:
    found = []
    for directory, _, names in os.walk(os.path.join(root, under)):
        found += [os.path.join(directory, name) for name in names if name.endswith(".swift")]
    return sorted(found)


def kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()


def skip_parens(text: str, index: int) -> int:
    """Index just past the parenthesised group starting at text[index] == '('."""
    depth, quoted = 0, False
    while index < len(text):
        char = text[index]
        if char == "\\" and quoted:
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def cli_commands(root: str) -> dict[str, Command]:
    """commandName -> its flags, from the top-level structs of Sources/BlobferryCLI."""
    bodies: dict[str, str] = {}
    for path in swift_files(root, "Sources/BlobferryCLI"):
        text = read(path)
        for match in re.finditer(r"(?m)^(?:public |internal )?struct (\w+)[^{\n]*\{\n(.*?)^\}", text, re.S):
            bodies[match.group(1)] = match.group(2)

    def own(body: str) -> tuple[set[str], list[str]]:
        flags, groups = set(), []
        for match in re.finditer(r"@(Option|Flag|OptionGroup)\b", body):
            index = match.end()
            attribute = ""
            if index < len(body) and body[index] == "(":
                end = skip_parens(body, index)
                attribute, index = body[index:end], end
            declaration = re.match(r"\s*var\s+(\w+)\s*(?::\s*([\w.]+))?", body[index:])
            if not declaration:
                continue
            name, type_name = declaration.group(1), declaration.group(2)
            if match.group(1) == "OptionGroup":
                groups.append(type_name or "")
                continue
            custom = re.search(r'customLong\("([^"]+)"', attribute)
            long_name = custom.group(1) if custom else kebab(name)
            flags.add(long_name)
            if "prefixedNo" in attribute:
                flags.add("no-" + long_name)
        return flags, groups

    def all_flags(struct: str, seen: frozenset = frozenset()) -> set[str]:
        if struct not in bodies or struct in seen:
            return set()
        flags, groups = own(bodies[struct])
        for group in groups:
            flags |= all_flags(group, seen | {struct})
        return flags | {"help"}

    commands = {}
    for struct, body in bodies.items():
        name = re.search(r'commandName:\s*"([^"]+)"', body)
        if name:
            commands[name.group(1)] = Command(name.group(1), all_flags(struct))
    return commands


def gather_facts(root: str) -> Facts:
    example = read(os.path.join(root, "config", "blobferry.example.yaml"))
    settings = set(re.findall(r"\[([A-Z][A-Z0-9_]*)\]", example))
    descriptors = read(os.path.join(root, "Sources/Blobferry/Config/SettingDescriptor.swift"))
    settings |= set(re.findall(r'"(BLOBFERRY_[A-Z0-9_]+)"', descriptors))
    loader = read(os.path.join(root, "Sources/Blobferry/Config/SettingsLoader.swift"))
    settings |= set(re.findall(r'configFileVariable\s*=\s*"([A-Z0-9_]+)"', loader))

    metrics: dict[str, str] = {}
    labels = set(TARGET_LABELS)
    for path in swift_files(root, "Sources"):
        text = read(path)
        for name, kind in re.findall(r'"(blobferry_[a-z0-9_]+)"\s*:\s*\(\s*\.(counter|gauge|histogram)\b', text):
            metrics[name] = kind
        if "Metrics" in text:
            labels |= {label for label in re.findall(r'\(\s*"([a-z_][a-z0-9_]*)"\s*,', text)
                       if not label.startswith("blobferry_")}
            for group in re.findall(r"labelText\(\[([^\]]*)\]", text):
                labels |= set(re.findall(r'"([a-z_][a-z0-9_]*)"', group)[0::2])

    package = read(os.path.join(root, "Package.swift"))
    executables = set(re.findall(r'\.executable\(name:\s*"([^"]+)"', package))

    readme = read(os.path.join(root, "README.md"))
    section = re.search(r"(?ms)^### Exit codes\n(.*?)^#", readme)
    exit_codes = {int(code) for code in re.findall(r"(?m)^\| (\d+) \|", section.group(1) if section else "")}

    return Facts(settings, metrics, labels, cli_commands(root), executables, exit_codes)


# --------------------------------------------------------------------------- the checks


class Checker:
    def __init__(self, root: str, deploy: str, compose: str | None):
        self.root, self.deploy, self.compose = root, deploy, compose
        self.facts = gather_facts(root)
        self.errors: list[str] = []
        self.documents: dict[str, list] = {}  # yaml path -> documents

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{os.path.relpath(path, self.root)}: {message}")

    def files(self) -> list[str]:
        found = []
        for directory, _, names in os.walk(self.deploy):
            found += [os.path.join(directory, name) for name in names]
        return sorted(found)

    # ---- environment variables

    def check_variable(self, path: str, name: str, where: str) -> None:
        if name.startswith("BLOBFERRY_"):
            if name not in self.facts.settings:
                self.error(path, f"{where}: {name} is not a blobferry setting (config/blobferry.example.yaml)")
        elif name not in self.facts.settings and name not in ALLOWED_STANDARD:
            self.error(path, f"{where}: {name} is neither a blobferry setting nor an allowed standard variable")

    def check_text_names(self, path: str, text: str) -> None:
        """Every BLOBFERRY_ word anywhere, and every VAR= / VAR: a comment suggests setting."""
        for name in sorted(set(re.findall(r"\bBLOBFERRY_[A-Z0-9_]*[A-Z0-9]\b", text))):
            self.check_variable(path, name, "mentions")
        for name in re.findall(r"(?m)^\s*#\s*((?:AWS|AZURE)_[A-Z0-9_]+)\s*[:=]", text):
            self.check_variable(path, name, "commented-out setting")

    # ---- metrics and PromQL

    def check_promql(self, path: str, expr: str, where: str) -> None:
        for name in re.findall(r"\bblobferry_[a-z0-9_]+", expr):
            self.check_metric(path, name, where)
        if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
            self.error(path, f"{where}: unbalanced brackets in {expr!r}")
        elif promql_parser is not None:
            # Grafana's variables: ranges become a duration, others a label value.
            concrete = re.sub(r"\$__(rate_)?interval\b", "5m", expr)
            concrete = re.sub(r"\$\{?\w+\}?", "x", concrete)
            try:
                promql_parser.parse(concrete)
            except ValueError as error:
                self.error(path, f"{where}: does not parse as PromQL ({error}): {expr!r}")
        used = set()
        for matchers in re.findall(r"\{([^{}]*)\}", expr):
            used |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
        for grouping in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
            used |= {label.strip() for label in grouping.split(",") if label.strip()}
        for label in sorted(used - self.facts.labels):
            self.error(path, f"{where}: label {label!r} is not one blobferry or Prometheus sets")

    def check_metric(self, path: str, name: str, where: str) -> None:
        if name in self.facts.metrics:
            return
        for suffix in HISTOGRAM_SUFFIXES:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and self.facts.metrics.get(base) == "histogram":
                return
        self.error(path, f"{where}: metric {name} is not described in Sources")

    # ---- command lines

    def check_command_line(self, path: str, argv: list[str], where: str) -> None:
        if not argv:
            return
        program = os.path.basename(argv[0])
        if not program.startswith("blobferry"):
            return
        if program not in self.facts.executables:
            self.error(path, f"{where}: {program} is not an executable of Package.swift")
            return
        rest = argv[1:]
        if program == "blobferry":
            if not rest or rest[0].startswith("-"):
                self.error(path, f"{where}: `blobferry` without a subcommand")
                return
            command, rest = self.facts.commands.get(rest[0]), rest[1:]
            if command is None or command.name in self.facts.executables:
                self.error(path, f"{where}: `blobferry {argv[1]}` is not a blobferry subcommand")
                return
        else:
            command = self.facts.commands.get(program)
            if command is None:
                self.error(path, f"{where}: no command named {program} in Sources/BlobferryCLI")
                return
        for argument in rest:
            if argument.startswith("--"):
                flag = argument[2:].split("=", 1)[0]
                if flag not in command.flags:
                    self.error(path, f"{where}: {command.name} has no flag --{flag}")

    # ---- Kubernetes

    def kubernetes(self) -> None:
        directory = os.path.join(self.deploy, "kubernetes")
        if not os.path.isdir(directory):
            self.errors.append("deploy/kubernetes is missing")
            return
        objects = []  # (path, document)
        for path, documents in self.documents.items():
            if path.startswith(directory + os.sep) and not path.endswith("kustomization.yaml"):
                for document in documents:
                    if not isinstance(document, dict):
                        continue
                    for key in ("apiVersion", "kind"):
                        if not document.get(key):
                            self.error(path, f"a document without {key}")
                    if not (document.get("metadata") or {}).get("name"):
                        self.error(path, "a document without metadata.name")
                    objects.append((path, document))

        def named(kind: str) -> dict[str, tuple[str, dict]]:
            return {d["metadata"]["name"]: (p, d) for p, d in objects
                    if d.get("kind") == kind and (d.get("metadata") or {}).get("name")}

        config_maps, secrets = named("ConfigMap"), named("Secret")
        accounts, deployments = named("ServiceAccount"), named("Deployment")

        kustomization_path = os.path.join(directory, "kustomization.yaml")
        kustomization = (self.documents.get(kustomization_path) or [{}])[0] or {}
        resources = kustomization.get("resources") or []
        if not resources:
            self.error(kustomization_path, "no resources")
        kustomization_text = read(kustomization_path) if os.path.exists(kustomization_path) else ""
        for resource in resources:
            target = os.path.join(directory, resource)
            if not os.path.exists(target):
                self.error(kustomization_path, f"resource {resource} does not exist")
            for document in self.documents.get(target, []):
                if isinstance(document, dict) and document.get("kind") == "Secret":
                    self.error(target, "a Secret in the kustomization: Secrets are created apart, never in git")
        for path in sorted(self.documents):
            if path.startswith(directory + os.sep) and path != kustomization_path \
                    and os.path.basename(path) not in kustomization_text:
                self.error(path, "not named in kustomization.yaml (as a resource or an optional file)")

        def keys_of(kind_objects: dict, name: str) -> set[str] | None:
            if name not in kind_objects:
                return None
            path, document = kind_objects[name]
            keys = set(document.get("data") or {}) | set(document.get("stringData") or {})
            # Keys a Secret example shows commented out may be set as well.
            keys |= set(re.findall(r"(?m)^\s*#\s*([A-Z][A-Z0-9_]+)\s*:", read(path)))
            return keys

        for path, document in objects:
            kind = document.get("kind")
            name = document["metadata"].get("name")
            if kind == "ConfigMap":
                for key, value in (document.get("data") or {}).items():
                    if re.fullmatch(r"[A-Z][A-Z0-9_]*", key) and key in SECRET_NAMES and value:
                        self.error(path, f"ConfigMap {name}: {key} is a secret, put it in a Secret")
            if kind == "ServiceAccount" and name == "blobferry":
                annotations = document["metadata"].get("annotations") or {}
                for annotation in ("eks.amazonaws.com/role-arn", "azure.workload.identity/client-id"):
                    if annotation not in annotations:
                        self.error(path, f"ServiceAccount blobferry lacks the annotation {annotation}")
            if kind == "ScaledObject":
                target = ((document.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
                if target not in deployments:
                    self.error(path, f"ScaledObject {name} scales {target!r}, no such Deployment")
                triggers = (document.get("spec") or {}).get("triggers") or []
                for trigger in triggers:
                    query = (trigger.get("metadata") or {}).get("query", "")
                    if trigger.get("type") == "prometheus":
                        if "blobferry_job_queued" not in query:
                            self.error(path, "the Prometheus trigger does not read blobferry_job_queued")
                        self.check_promql(path, query, f"ScaledObject {name} query")
                        job = ((config_maps.get("blobferry-settings", ("", {}))[1].get("data") or {})
                               .get("BLOBFERRY_JOB"))
                        for other in sorted(set(re.findall(r'\bjob="([^"]*)"', query)) - {job}):
                            self.error(path, f"ScaledObject {name} query reads job {other!r}, the ConfigMap's BLOBFERRY_JOB is {job!r}")
                if not any(t.get("type") == "prometheus" for t in triggers):
                    self.error(path, f"ScaledObject {name} has no Prometheus trigger")
            if kind == "ConfigMap" and name == "blobferry-redis-conf":
                conf_path = os.path.join(self.deploy, "redis", "redis.conf")
                if os.path.exists(conf_path) and (document.get("data") or {}).get("redis.conf") != read(conf_path):
                    self.error(path, "the redis.conf of ConfigMap blobferry-redis-conf differs from deploy/redis/redis.conf")

            template = pod_template(document)
            if template is None:
                continue
            spec = template.get("spec") or {}
            pod_labels = (template.get("metadata") or {}).get("labels") or {}
            account = spec.get("serviceAccountName")
            if account and account not in accounts:
                self.error(path, f"{kind} {name}: service account {account} is not defined")
            for container in spec.get("containers") or []:
                argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
                image = str(container.get("image", ""))
                where = f"{kind} {name} container {container.get('name')}"
                if image.split(":")[0].split("/")[-1] != "blobferry":
                    continue
                if image not in {str(i.get("name")) for i in kustomization.get("images") or []}:
                    self.error(path, f"{where}: image {image} is not one kustomization.yaml's images: sets")
                if not argv or not os.path.basename(argv[0]).startswith("blobferry"):
                    self.error(path, f"{where}: runs the blobferry image without a blobferry command")
                self.check_command_line(path, argv, where)
                if account == "blobferry" and pod_labels.get("azure.workload.identity/use") != "true":
                    self.error(path, f"{where}: pods of service account blobferry need the label azure.workload.identity/use: \"true\"")
                for variable in container.get("env") or []:
                    variable_name = variable.get("name", "")
                    self.check_variable(path, variable_name, where)
                    if "value" in variable and variable_name in SECRET_NAMES and variable["value"]:
                        self.error(path, f"{where}: {variable_name} is inlined; reference a Secret")
                    source = variable.get("valueFrom") or {}
                    for ref, objects_of_kind in (("secretKeyRef", secrets), ("configMapKeyRef", config_maps)):
                        if ref in source:
                            keys = keys_of(objects_of_kind, source[ref].get("name"))
                            if keys is None:
                                self.error(path, f"{where}: {ref} to {source[ref].get('name')}, defined nowhere in deploy/")
                            elif source[ref].get("key") not in keys:
                                self.error(path, f"{where}: {ref} key {source[ref].get('key')} is not in {source[ref].get('name')}")
                for source in container.get("envFrom") or []:
                    for ref, objects_of_kind in (("secretRef", secrets), ("configMapRef", config_maps)):
                        if ref not in source:
                            continue
                        keys = keys_of(objects_of_kind, source[ref].get("name"))
                        if keys is None:
                            self.error(path, f"{where}: envFrom {ref} {source[ref].get('name')}, defined nowhere in deploy/")
                            continue
                        for key in sorted(keys):
                            self.check_variable(path, key, f"{where} via {source[ref].get('name')}")

        if shutil.which("kubectl") and resources:
            result = subprocess.run(["kubectl", "kustomize", directory], capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                self.error(kustomization_path, f"kubectl kustomize failed: {result.stderr.strip()[:300]}")

    # ---- systemd

    def systemd(self) -> None:
        directory = os.path.join(self.deploy, "systemd")
        units = sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".service")) \
            if os.path.isdir(directory) else []
        for name in ("blobferry-producer.service", "blobferry-consumer@.service", "blobferry-exporter.service"):
            if os.path.join(directory, name) not in units:
                self.errors.append(f"deploy/systemd/{name} is missing")
        env_files = [os.path.join(directory, n) for n in os.listdir(directory)] if os.path.isdir(directory) else []
        env_files = [p for p in env_files if ".env" in os.path.basename(p)]
        if not env_files:
            self.errors.append("deploy/systemd has no environment file example (*.env*)")
        for path in env_files:
            for number, line in enumerate(read(path).splitlines(), 1):
                stripped = line.strip()
                if not stripped or (stripped.startswith("#") and not re.match(r"#\s*[A-Z][A-Z0-9_]*=", stripped)):
                    continue
                match = re.fullmatch(r"#?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)", stripped)
                if not match:
                    self.error(path, f"line {number}: not NAME=value")
                    continue
                self.check_variable(path, match.group(1), f"line {number}")
        for path in units:
            sections = self.parse_unit(path)
            service = sections.get("Service", {})
            if not sections.get("Unit", {}).get("Description"):
                self.error(path, "no Description in [Unit]")
            if "WantedBy" not in sections.get("Install", {}):
                self.error(path, "no WantedBy in [Install]")
            starts = service.get("ExecStart", [])
            if len(starts) != 1:
                self.error(path, "needs exactly one ExecStart")
            for line in starts + service.get("ExecStartPre", []):
                argv = shlex.split(line.lstrip("-@:+!"))
                self.check_command_line(path, argv, "ExecStart")
                if "@." in os.path.basename(path) and "%i" not in line and "%I" not in line:
                    self.error(path, "a template whose ExecStart does not use its instance (%i)")
            for line in service.get("Environment", []):
                for assignment in shlex.split(line):
                    self.check_variable(path, assignment.split("=", 1)[0], "Environment=")
            if service.get("Restart") != ["on-failure"]:
                self.error(path, "Restart is not on-failure")
            prevented = {int(c) for line in service.get("RestartPreventExitStatus", []) for c in line.split() if c.isdigit()}
            if not {2, 64} <= prevented:
                self.error(path, "RestartPreventExitStatus must name 2 (a bad setting) and 64 (bad usage)")
            for code in sorted(prevented - self.facts.exit_codes):
                self.error(path, f"RestartPreventExitStatus names {code}, not an exit code of README \"Exit codes\"")
            for option in ("NoNewPrivileges", "ProtectSystem", "EnvironmentFile"):
                if option not in service:
                    self.error(path, f"no {option}")
        if units and shutil.which("systemd-analyze"):
            self.systemd_analyze(units)

    def parse_unit(self, path: str) -> dict[str, dict[str, list[str]]]:
        sections: dict[str, dict[str, list[str]]] = {}
        current = None
        lines = read(path).splitlines()
        number = 0
        while number < len(lines):
            line = lines[number].strip()
            number += 1
            while line.endswith("\\") and number < len(lines):
                line = line[:-1] + " " + lines[number].strip()
                number += 1
            if not line or line[0] in "#;":
                continue
            section = re.fullmatch(r"\[([A-Za-z]+)\]", line)
            if section:
                current = section.group(1)
                if current not in SYSTEMD_DIRECTIVES:
                    self.error(path, f"line {number}: unknown section [{current}]")
                sections.setdefault(current, {})
                continue
            key, sep, value = line.partition("=")
            if not sep or current is None:
                self.error(path, f"line {number}: not Key=Value inside a section")
                continue
            key = key.strip()
            if key not in SYSTEMD_DIRECTIVES.get(current, set()):
                self.error(path, f"line {number}: unknown directive {key} in [{current}]")
            sections.setdefault(current, {}).setdefault(key, []).append(value.strip())
        return sections

    def systemd_analyze(self, units: list[str]) -> None:
        """systemd's own parser, on copies whose ExecStart is /bin/true (it checks the binary exists)."""
        with tempfile.TemporaryDirectory() as scratch:
            names = []
            for path in units:
                text = re.sub(r"(?m)^(Exec\w+=[-@:+!]*)\S+", r"\1/bin/true", read(path))
                with open(os.path.join(scratch, os.path.basename(path)), "w", encoding="utf-8") as handle:
                    handle.write(text)
                name = os.path.basename(path)
                names.append(name.replace("@.", "@1.") if "@." in name else os.path.join(scratch, name))
            environment = dict(os.environ, SYSTEMD_UNIT_PATH=scratch + ":", SYSTEMD_LOG_COLOR="0")
            result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], capture_output=True,
                                    text=True, env=environment, cwd=scratch, timeout=60)
            complaints = [line for line in (result.stdout + result.stderr).splitlines()
                          if re.search(r"Unknown|Failed to parse|Invalid|Missing|ignoring", line, re.I)]
            if result.returncode != 0 or complaints:
                detail = "; ".join(complaints) or result.stderr.strip()[:300]
                self.errors.append(f"deploy/systemd: systemd-analyze verify: {detail}")

    # ---- redis

    def redis(self) -> None:
        path = os.path.join(self.deploy, "redis", "redis.conf")
        if not os.path.exists(path):
            self.errors.append("deploy/redis/redis.conf is missing")
            return
        directives: dict[str, str] = {}
        for line in read(path).splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.strip().partition(" ")
                directives[name.lower()] = value.strip()
        expected = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
        for name, value in expected.items():
            if directives.get(name) != value:
                self.error(path, f"{name} must be {value} (is {directives.get(name)!r})")
        if not re.fullmatch(r"\d+(?:[kmg]b?)?", directives.get("maxmemory", ""), re.I):
            self.error(path, "maxmemory is not set to a size")
        server = shutil.which("redis-server")
        if server:
            self.redis_loads(path, server, expected | {"maxmemory": None})

    def redis_loads(self, path: str, server: str, expected: dict) -> None:
        """Starts redis-server on the file (unix socket only) and reads the settings back."""
        with tempfile.TemporaryDirectory() as scratch:
            socket = os.path.join(scratch, "redis.sock")
            process = subprocess.Popen(
                [server, path, "--port", "0", "--unixsocket", socket, "--dir", scratch, "--appendonly", "no"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                deadline = time.monotonic() + 30
                while not os.path.exists(socket) and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not os.path.exists(socket):
                    output = process.communicate(timeout=10)[0] if process.poll() is not None else ""
                    self.error(path, f"redis-server does not start with it: {output.strip()[-300:]}")
                    return
                for name, value in expected.items():
                    if name == "appendonly":
                        continue  # turned off above: the check must not write an AOF
                    result = subprocess.run(["redis-cli", "-s", socket, "config", "get", name],
                                            capture_output=True, text=True, timeout=10)
                    answer = result.stdout.split()
                    if len(answer) < 2 or (value is not None and answer[1] != value):
                        self.error(path, f"redis-server reads {name} as {answer[1:]!r}")
            finally:
                process.terminate()
                process.wait(timeout=10)

    # ---- grafana

    def grafana(self, path: str, dashboard: dict) -> None:
        panels = dashboard.get("panels") or []
        if not panels:
            self.error(path, "a dashboard without panels")
        ids = [panel.get("id") for panel in panels]
        if len(ids) != len(set(ids)):
            self.error(path, "panel ids are not unique")
        expressions = 0
        for panel in panels:
            if panel.get("type") == "row":
                continue
            if "gridPos" not in panel:
                self.error(path, f"panel {panel.get('title')!r} has no gridPos")
            for target in panel.get("targets") or []:
                expr = target.get("expr", "")
                if not expr:
                    self.error(path, f"panel {panel.get('title')!r}: a target without expr")
                    continue
                expressions += 1
                self.check_promql(path, expr, f"panel {panel.get('title')!r}")
                for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")):
                    if label not in self.facts.labels:
                        self.error(path, f"panel {panel.get('title')!r}: legend label {label!r} is never set")
        for variable in (dashboard.get("templating") or {}).get("list") or []:
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            values = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
            if values:  # Grafana's label_values(selector, label), as PromQL
                query = f"count by ({values.group(2)}) ({values.group(1)})"
            if "blobferry_" in query:
                self.check_promql(path, query, f"variable {variable.get('name')}")
        if expressions == 0:
            self.error(path, "no PromQL expressions")

    # ---- compose (its commands; compose/validate.sh checks the rest)

    def compose_commands(self) -> None:
        if not self.compose or not os.path.exists(self.compose):
            return
        try:
            compose = yaml.safe_load(read(self.compose)) or {}
        except yaml.YAMLError as error:
            self.error(self.compose, f"does not parse: {error}")
            return
        for name, service in (compose.get("services") or {}).items():
            def as_list(value):
                return shlex.split(value) if isinstance(value, str) else [str(v) for v in value or []]
            argv = as_list(service.get("entrypoint")) + as_list(service.get("command"))
            self.check_command_line(self.compose, argv, f"service {name}")

    # ---- all

    def run(self) -> list[str]:
        if not os.path.isdir(self.deploy):
            return [f"{self.deploy} is not a directory"]
        for path in self.files():
            text = read(path)
            if path.endswith((".yaml", ".yml")):
                try:
                    self.documents[path] = [d for d in yaml.safe_load_all(text) if d is not None]
                except yaml.YAMLError as error:
                    self.error(path, f"does not parse as YAML: {str(error).splitlines()[0]}")
                    continue
            elif path.endswith(".json"):
                try:
                    document = json.loads(text)
                except json.JSONDecodeError as error:
                    self.error(path, f"does not parse as JSON: {error}")
                    continue
                if "grafana" in path:
                    self.grafana(path, document)
            self.check_text_names(path, text)
            for name in sorted(set(re.findall(r"\bblobferry_[a-z0-9_]*[a-z0-9]\b", text))):
                self.check_metric(path, name, "mentions")
        self.kubernetes()
        self.systemd()
        self.redis()
        self.compose_commands()
        if not os.path.isfile(os.path.join(self.deploy, "grafana", "blobferry-dashboard.json")):
            self.errors.append("deploy/grafana/blobferry-dashboard.json is missing")
        return sorted(set(self.errors))


def pod_template(document: dict) -> dict | None:
    spec = document.get("spec") or {}
    if document.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return spec.get("template") or {}
    if document.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    return None


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.dirname(here), help="repository root (Sources, config, README)")
    parser.add_argument("--deploy", help="the deploy directory (default ROOT/deploy)")
    parser.add_argument("--compose", help="compose file whose commands to check (default ROOT/compose/docker-compose.yml)")
    arguments = parser.parse_args()
    root = os.path.abspath(arguments.root)
    deploy = os.path.abspath(arguments.deploy or os.path.join(root, "deploy"))
    compose = arguments.compose or os.path.join(root, "compose", "docker-compose.yml")
    errors = Checker(root, deploy, compose).run()
    for message in errors:
        print(f"check_deploy: FAIL {message}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_deploy: ok: {os.path.relpath(deploy, root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
