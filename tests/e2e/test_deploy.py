"""The Helm chart and compose.yaml.

The chart is linted (``--strict``) and rendered by a real helm, built with the Go toolchain
(scripts/ensure-go-tools.sh), with the default and the production values; the rendered
manifests are parsed and asserted on: probes, security context, secret references, the
drain-aware grace period, the migration hook, the disruption budget. compose.yaml is parsed
and held to what docs/deploy.md promises (no compose engine runs on this machine).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.go_tools import go_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "lamdis"
PRODUCTION = CHART / "values-production.yaml"
SECRET_VARS = {"LAMDIS_API_TOKEN", "LAMDIS_HMAC_SECRET", "DATABASE_URL"}


@pytest.fixture(scope="module")
def helm() -> Path:
    return go_tool("helm")


def _helm(helm: Path, *args: str) -> str:
    done = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def render(helm: Path, *args: str) -> dict[str, dict[str, Any]]:
    """`helm template` parsed: manifests by kind (one of each kind here)."""
    out = _helm(helm, "template", "rel", str(CHART), "--namespace", "ci", *args)
    manifests = [m for m in yaml.safe_load_all(out) if m]
    by_kind = {m["kind"]: m for m in manifests}
    assert len(by_kind) == len(manifests), [m["kind"] for m in manifests]
    return by_kind


VALUES = {"default": [], "production": ["-f", str(PRODUCTION)]}


@pytest.mark.parametrize("values", list(VALUES))
def test_helm_lint_is_clean(helm: Path, values: str) -> None:
    out = _helm(helm, "lint", "--strict", str(CHART), *VALUES[values])
    assert "0 chart(s) failed" in out


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


@pytest.mark.parametrize("values", list(VALUES))
def test_deployment_probes_security_and_secrets(helm: Path, values: str) -> None:
    manifests = render(helm, *VALUES[values])
    deployment = manifests["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == (2 if values == "default" else 3)

    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert container["ports"] == [{"name": "http", "containerPort": 3101, "protocol": "TCP"}]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False

    env = _env(container)
    for name in SECRET_VARS:
        assert "value" not in env[name], f"{name} must come from a Secret"
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == ("lamdis" if values == "default" else "lamdis-production")
    assert env["LAMDIS_HMAC_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is (
        values == "default"
    )
    drain = int(env["LAMDIS_DRAIN_SECONDS"]["value"])
    assert pod["terminationGracePeriodSeconds"] > drain

    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["requests"]["memory"]


def test_grace_period_follows_the_drain_time(helm: Path) -> None:
    pod = render(helm, "--set", "drainSeconds=90")["Deployment"]["spec"]["template"]["spec"]
    assert _env(pod["containers"][0])["LAMDIS_DRAIN_SECONDS"]["value"] == "90"
    assert pod["terminationGracePeriodSeconds"] == 100


@pytest.mark.parametrize("values", list(VALUES))
def test_migration_job_is_a_pre_upgrade_hook_with_the_database_secret(
    helm: Path, values: str
) -> None:
    job = render(helm, *VALUES[values])["Job"]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert {"pre-install", "pre-upgrade"} <= set(hooks)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["lamdis", "db", "migrate"]
    assert "secretKeyRef" in _env(container)["DATABASE_URL"]["valueFrom"]
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("values", list(VALUES))
def test_service_and_disruption_budget_select_the_pods(helm: Path, values: str) -> None:
    manifests = render(helm, *VALUES[values])
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selector = manifests["Service"]["spec"]["selector"]
    assert selector.items() <= labels.items()
    assert manifests["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    pdb = manifests["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["minAvailable"] < manifests["Deployment"]["spec"]["replicas"]


def test_the_chart_holds_no_secret_values() -> None:
    text = "\n".join(p.read_text() for p in CHART.rglob("*") if p.is_file())
    assert "kind: Secret" not in text, "the chart references a Secret, it never creates one"


# --- compose.yaml ----------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return data


def test_compose_has_healthchecks_a_volume_and_a_one_shot_migration() -> None:
    services = _compose()["services"]
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["lamdis"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pgdata" in _compose()["volumes"]
    migrate = services["migrate"]
    assert migrate["entrypoint"] == ["lamdis", "db", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["lamdis"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert "/health" in " ".join(services["lamdis"]["healthcheck"]["test"])
    assert services["lamdis"]["read_only"] is True


def test_compose_mongo_profile() -> None:
    services = _compose()["services"]
    assert services["mongo"]["profiles"] == ["mongo"]
    assert services["lamdis-mongo"]["profiles"] == ["mongo"]
    assert services["lamdis-mongo"]["environment"]["MONGO_URL"].startswith("mongodb://mongo:")
    assert services["lamdis-mongo"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert "profiles" not in services["lamdis"]


def test_compose_env_example_sets_every_variable_the_file_needs() -> None:
    """Every ${VAR} compose.yaml requires (no default) is in lamdis.env.example, and no
    secret is written into compose.yaml itself."""
    text = (REPO / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+)(?::\?[^}]*)?\}", text))
    example = (REPO / "lamdis.env.example").read_text()
    defined = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.MULTILINE))
    assert required <= defined, required - defined
    assert _compose()["x-lamdis"]["env_file"] == ["lamdis.env"]
    for service in _compose()["services"].values():
        for name in service.get("environment", {}):
            assert name not in {"LAMDIS_API_TOKEN", "LAMDIS_HMAC_SECRET", "OPENAI_API_KEY"}
