"""The deployment artifacts (systemd/, deploy/) say what operators rely on.

Reads the repository's files only. The YAML checks that need a parser run when PyYAML is importable
(it is not a dependency of syncd); the text checks run everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from syncd.settings import ENV_PREFIX, Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "syncd.service"
ENV_EXAMPLE = ROOT / "systemd" / "syncd.env.example"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"


def unit_directives() -> dict[str, list[str]]:
    """`Key=value` lines of the unit, all values per key (a key may repeat)."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_speaks_the_daemons_protocol() -> None:
    d = unit_directives()
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert "RestartSec" in d
    assert d["ExecStartPre"][0].endswith("/syncd db upgrade")
    assert d["ExecStart"][0].endswith("/syncd run")


def test_unit_stop_timeout_outlasts_the_daemons_own() -> None:
    stop_s = int(unit_directives()["TimeoutStopSec"][0])
    assert stop_s > Settings.model_fields["shutdown_timeout_s"].default


def test_unit_takes_the_key_as_a_credential_never_from_the_environment() -> None:
    d = unit_directives()
    assert d["LoadCredential"] == ["api-key:/etc/syncd/api-key"]
    assert "SYNCD_API_KEY_FILE=%d/api-key" in d["Environment"]
    assert not any(value.startswith("SYNCD_API_KEY=") for value in d["Environment"])
    assert d["EnvironmentFile"] == ["-/etc/syncd/syncd.env"]
    assert d["DynamicUser"] == ["yes"]
    assert d["StateDirectory"] == ["syncd"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("PrivateUsers", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("SystemCallArchitectures", "native"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("ProtectProc", "invisible"),
        ("ProcSubset", "pid"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RemoveIPC", "yes"),
        ("UMask", "0077"),
    ],
)
def test_unit_is_hardened(key: str, value: str) -> None:
    assert unit_directives().get(key) == [value]


def test_unit_filters_system_calls() -> None:
    assert unit_directives()["SystemCallFilter"][0] == "@system-service"


def test_env_example_names_every_setting_and_holds_no_secret() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    named = set(re.findall(rf"^#?({ENV_PREFIX}[A-Z_]+)=", text, flags=re.MULTILINE))
    secret_or_file = {"api_key", "api_key_file", "api_paths"}  # the unit sets the file; paths: TOML only
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields if name not in secret_or_file}
    assert expected - named == set()
    assert f"{ENV_PREFIX}CONFIG" in named
    assert not re.search(rf"^{ENV_PREFIX}API_KEY=", text, flags=re.MULTILINE)
    assert not re.search(r"^[A-Z_]+=", text, flags=re.MULTILINE), "every line is a commented example"


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert len(re.findall(r"^FROM python:3\.11-slim", text, flags=re.MULTILINE)) == 2
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, flags=re.MULTILINE)
    assert "SYNCD_HEALTH_HOST=0.0.0.0" in text
    assert 'ENTRYPOINT ["syncd"]' in text
    assert 'CMD ["run"]' in text
    for name in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert name in text


def test_compose_and_k8s_say_the_essentials_in_text() -> None:
    """What a reviewer greps for, checked without a YAML parser."""
    compose = COMPOSE.read_text(encoding="utf-8")
    assert "service_completed_successfully" in compose
    assert "service_healthy" in compose
    assert "SYNCD_API_KEY_FILE: /run/secrets/api-key" in compose
    deployment = (K8S / "deployment.yaml").read_text(encoding="utf-8")
    assert re.search(r"^  replicas: 2$", deployment, flags=re.MULTILINE)
    assert "path: /healthz" in deployment
    assert "path: /readyz" in deployment
    assert "secretName: syncd-secrets" in deployment


# --- with a YAML parser ---------------------------------------------------------------------------


def load_yaml(path: Path) -> list[Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (not a syncd dependency)")
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def k8s_objects() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_yaml(path):
            if "kind" in doc and doc["kind"] != "Kustomization":
                objects[doc["kind"]] = doc
    return objects


def test_compose_parses_and_orders_migration_before_syncd() -> None:
    (compose,) = load_yaml(COMPOSE)
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["syncd"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["syncd"]["environment"]["SYNCD_API_KEY_FILE"] == "/run/secrets/api-key"
    assert "api-key" in compose["secrets"]


def test_k8s_deployment_runs_two_safe_replicas() -> None:
    objects = k8s_objects()
    assert {"Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget"} <= set(objects)
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "limits" in container["resources"]
    assert "requests" in container["resources"]
    assert [init["args"] for init in pod["initContainers"]] == [["db", "upgrade"]]
    assert pod["terminationGracePeriodSeconds"] > Settings.model_fields["shutdown_timeout_s"].default


def test_k8s_api_key_is_a_file_from_the_secret() -> None:
    objects = k8s_objects()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert "SYNCD_API_KEY" not in env
    key_file = Path(env["SYNCD_API_KEY_FILE"]["value"])
    mounts = {Path(m["mountPath"]): m["name"] for m in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[key_file.parent])
    assert volume["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]
    assert "REPLACE-ME" in objects["Secret"]["stringData"]["api-key"]
    config = objects["ConfigMap"]["data"]
    assert config["SYNCD_HEALTH_HOST"] == "0.0.0.0"  # noqa: S104 - probes reach the pod IP


def test_k8s_metrics_service_is_annotated_for_prometheus() -> None:
    service = k8s_objects()["Service"]
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service["spec"]["ports"][0]["port"] == 9187
