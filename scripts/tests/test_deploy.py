"""deploy/ passes scripts/check_deploy.py, and the checker fails on each planted mistake.

Each planted mistake is one edit to a copy of deploy/ (or of compose/docker-compose.yml)
in a temporary directory; the checker must exit 1 naming it. So every check is shown to
bite on the real files, not on a fixture that could drift from them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(ROOT, "scripts", "check_deploy.py")


def run_checker(deploy: str, compose: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, CHECKER, "--root", ROOT, "--deploy", deploy]
    if compose:
        command += ["--compose", compose]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_deploy_passes_its_static_check():
    result = run_checker(os.path.join(ROOT, "deploy"))
    assert result.returncode == 0, result.stderr
    assert "check_deploy: ok" in result.stdout


def replace_in(path: str, old: str, new: str) -> None:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert old in text, f"{old!r} not in {path}: the planted mistake no longer applies"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace(old, new, 1))


# (file under deploy/, text to find, text to put instead, what the checker must say)
PLANTED = [
    ("kubernetes/configmap.yaml", "BLOBFERRY_CONCURRENCY:", "BLOBFERRY_CONCURENCY:",
     "BLOBFERRY_CONCURENCY is not a blobferry setting"),
    ("systemd/blobferry.env.example", "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1",
     "AWS_DEFAULT_REGION is neither a blobferry setting nor an allowed standard variable"),
    ("systemd/blobferry.env.example", "# BLOBFERRY_BANDWIDTH=0", "# BLOBFERRY_BANDWITH=0",
     "BLOBFERRY_BANDWITH is not a blobferry setting"),
    ("kubernetes/secret.example.yaml", "# AWS_ACCESS_KEY_ID: AKIA...", "# AWS_ACCESS_KEY: AKIA...",
     "AWS_ACCESS_KEY is neither"),
    ("grafana/blobferry-dashboard.json", "rate(blobferry_objects_copied_total[", "rate(blobferry_objects_copyed_total[",
     "metric blobferry_objects_copyed_total is not described in Sources"),
    ("grafana/blobferry-dashboard.json", "rate(blobferry_retries_total[", "rate(blobferry_retries_total_bucket[",
     "metric blobferry_retries_total_bucket is not described in Sources"),
    ("grafana/blobferry-dashboard.json", "sum by (service) (rate(blobferry_throttled", "sum by (servce) (rate(blobferry_throttled",
     "label 'servce' is not one blobferry or Prometheus sets"),
    ("grafana/blobferry-dashboard.json", '"legendFormat": "{{partition}}"', '"legendFormat": "{{partiton}}"',
     "legend label 'partiton' is never set"),
    ("grafana/blobferry-dashboard.json", '"panels": [', '"panels": [,', "does not parse as JSON"),
    ("grafana/blobferry-dashboard.json", "sum(rate(blobferry_objects_failed_total[$__rate_interval]))",
     "sum(rate(blobferry_objects_failed_total[$__rate_interval])) +", "does not parse as PromQL"),
    ("grafana/blobferry-dashboard.json", "label_values(blobferry_job_queued, job)",
     "label_values(blobferry_job_queue, job)", "metric blobferry_job_queue is not described in Sources"),
    ("kubernetes/keda-scaledobject.yaml", "sum(blobferry_job_queued{", "sum(blobferry_jobs_queued{",
     "metric blobferry_jobs_queued is not described in Sources"),
    ("kubernetes/configmap.yaml", "BLOBFERRY_JOB: photos-2026", "BLOBFERRY_JOB: photos-2027",
     "query reads job 'photos-2026', the ConfigMap's BLOBFERRY_JOB is 'photos-2027'"),
    ("kubernetes/consumer-deployment.yaml", "image: blobferry", "image: blobferry:1.0",
     "image blobferry:1.0 is not one kustomization.yaml's images: sets"),
    ("kubernetes/exporter.yaml", '["blobferry", "exporter",', '["blobferry", "exportr",',
     "`blobferry exportr` is not a blobferry subcommand"),
    ("kubernetes/producer-job.yaml", 'command: ["blobferry-producer"]', 'command: ["blobferry-producer", "--concurrency", "8"]',
     "blobferry-producer has no flag --concurrency"),
    ("kubernetes/consumer-deployment.yaml", "            - name: BLOBFERRY_WAIT_FOR_MORE\n              value: \"true\"",
     "            - name: AWS_SECRET_ACCESS_KEY\n              value: \"wJalrXUtnFEMI\"",
     "AWS_SECRET_ACCESS_KEY is inlined; reference a Secret"),
    ("kubernetes/consumer-deployment.yaml", "name: blobferry-credentials", "name: blobferry-creds",
     "envFrom secretRef blobferry-creds, defined nowhere in deploy/"),
    ("kubernetes/consumer-deployment.yaml", '        azure.workload.identity/use: "true"\n', "",
     "need the label azure.workload.identity/use"),
    ("kubernetes/serviceaccount.yaml", "eks.amazonaws.com/role-arn:", "eks.amazonaws.com/rolearn:",
     "lacks the annotation eks.amazonaws.com/role-arn"),
    ("kubernetes/kustomization.yaml", "  - configmap.yaml\n", "  - configmap.yaml\n  - secret.example.yaml\n",
     "a Secret in the kustomization"),
    ("kubernetes/redis.yaml", "    appendfsync everysec", "    appendfsync always",
     "differs from deploy/redis/redis.conf"),
    ("kubernetes/exporter.yaml", "  replicas: 1\n", "  replicas: 1\n replicas: 2\n", "does not parse as YAML"),
    ("systemd/blobferry-consumer@.service", "RestartPreventExitStatus=", "RestartPreventExitStatuss=",
     "unknown directive RestartPreventExitStatuss in [Service]"),
    ("systemd/blobferry-producer.service", "RestartPreventExitStatus=2 3 4 64", "RestartPreventExitStatus=3 4 7",
     "RestartPreventExitStatus must name 2"),
    ("systemd/blobferry-consumer@.service", "--metrics-address 0.0.0.0:941%i", "--metric-address 0.0.0.0:941%i",
     "blobferry-consumer has no flag --metric-address"),
    ("systemd/blobferry-exporter.service", "Restart=on-failure", "Restart=always", "Restart is not on-failure"),
    ("redis/redis.conf", "maxmemory-policy noeviction", "maxmemory-policy allkeys-lru",
     "maxmemory-policy must be noeviction"),
]


@pytest.mark.parametrize("relative, old, new, expected", PLANTED, ids=[p[3][:50] for p in PLANTED])
def test_check_fails_on_a_planted_mistake(tmp_path, relative, old, new, expected):
    deploy = tmp_path / "deploy"
    shutil.copytree(os.path.join(ROOT, "deploy"), deploy)
    replace_in(str(deploy / relative), old, new)
    result = run_checker(str(deploy))
    assert result.returncode == 1, f"the checker passed with a planted mistake in {relative}"
    assert expected in result.stderr, result.stderr


def test_check_fails_on_an_unknown_subcommand_in_compose(tmp_path):
    compose = tmp_path / "docker-compose.yml"
    shutil.copy(os.path.join(ROOT, "compose", "docker-compose.yml"), compose)
    replace_in(str(compose), 'entrypoint: ["blobferry", "status"]', 'entrypoint: ["blobferry", "stats"]')
    result = run_checker(os.path.join(ROOT, "deploy"), str(compose))
    assert result.returncode == 1
    assert "`blobferry stats` is not a blobferry subcommand" in result.stderr, result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_sees_a_bad_value(tmp_path):
    # A value only systemd's own parser knows is wrong (the directive itself is known).
    deploy = tmp_path / "deploy"
    shutil.copytree(os.path.join(ROOT, "deploy"), deploy)
    replace_in(str(deploy / "systemd/blobferry-producer.service"), "ProtectSystem=strict", "ProtectSystem=very")
    result = run_checker(str(deploy))
    assert result.returncode == 1
    assert "systemd-analyze verify" in result.stderr, result.stderr
