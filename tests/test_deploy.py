"""The container recipe and the deployments (issue 23: ``deploy/``) hold together with
the code: the Kubernetes manifests are valid against Kubernetes' own schemas (strict),
every container runs as non-root on a read-only root file system, the probes ask the
paths the processes serve, every ``FNO_*`` setting they give is one the code reads,
every command names a module that exists, and no secret is written into any of them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api.health import router as api_health
from processes.health import Health, health_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = DEPLOY / "kubernetes" / "fno.yaml"
COMPOSE = DEPLOY / "compose.yaml"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
PRODUCT = [
    p
    for p in ROOT.rglob("*.py")
    if not p.is_relative_to(ROOT / "tests") and ".venv" not in p.parts and "bench" not in p.parts
]
SECRET_NAMES = ("FNO_SUBJECT_KEY_SECRET", "FNO_WEB_SECRET", "FNO_CODEC_KEYS", "FNO_FRONT_DOOR_KEY")


def manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]


def pod_specs() -> list[dict[str, Any]]:
    return [
        d["spec"]["template"]["spec"] for d in manifests() if d["kind"] in ("Deployment", "Job")
    ]


def read_by_code() -> str:
    return "\n".join(p.read_text() for p in PRODUCT)


def modules_of(command: list[str]) -> list[str]:
    """The modules a ``python …`` command runs (``sh -c "python -m a && python -m b"``)."""
    if command[:2] == ["sh", "-c"]:
        return [module_of(part.split()) for part in command[2].split("&&")]
    return [module_of(command)]


def exists(module: str) -> bool:
    return (ROOT / f"{module}.py").is_file() or importlib.util.find_spec(module) is not None


def module_of(command: list[str]) -> str:
    """The module a ``python …`` command runs."""
    if command[:2] == ["python", "-m"]:
        return command[2]
    assert command[0] == "python" and command[1].endswith(".py"), command
    return command[1].removesuffix(".py")


@pytest.mark.parametrize(
    "resource", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_each_manifest_is_valid_kubernetes(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, "1.30.0", strict=True)


def test_every_container_is_non_root_on_a_read_only_root_and_probed_where_it_answers() -> None:
    worker_paths = {r.path for r in health_app(Health({})).routes}  # type: ignore[attr-defined]
    api_paths = {r.path for r in api_health.routes}  # type: ignore[attr-defined]
    seen = set()
    for spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert all(exists(m) for m in modules_of(c["command"])), c["command"]
            probes = [c.get(k) for k in ("livenessProbe", "readinessProbe") if c.get(k)]
            served = worker_paths if c["name"] == "worker" else api_paths
            for probe in probes:
                assert probe["httpGet"]["path"] in served, (c["name"], probe)
            seen.add(c["name"])
    assert {"worker", "api", "migrate"} <= seen


def test_the_settings_given_are_read_by_the_code_and_no_secret_is_written_down() -> None:
    code = read_by_code()
    given: set[str] = set()
    config = next(d for d in manifests() if d["kind"] == "ConfigMap")
    given |= set(config["data"])
    for spec in pod_specs():
        for c in spec["containers"]:
            for e in c.get("env", []):
                given.add(e["name"])
                if e["name"] in SECRET_NAMES or "SECRET" in e["name"]:
                    assert "value" not in e and "secretKeyRef" in e["valueFrom"], e
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if name.startswith("fno-"):
            given |= set(env)
            assert service["read_only"] is True and service["user"].split(":")[0] != "0"
            assert not set(env) & {"FNO_SUBJECT_KEY_SECRET", "FNO_WEB_SECRET"}, name
            assert all(exists(m) for m in modules_of(service["command"])), name
    given |= set(re.findall(r"\b(FNO_[A-Z_]+)=", CONTAINERFILE.read_text()))
    fno = {n for n in given if n.startswith("FNO_")}
    assert fno and not {n for n in fno if f'"{n}"' not in code and f"'{n}'" not in code}


def test_the_image_runs_as_non_root_with_its_bytecode_compiled_at_build() -> None:
    recipe = CONTAINERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", recipe, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert "compileall" in recipe and "PYTHONDONTWRITEBYTECODE=1" in recipe
    assert not re.search(r"(SECRET|PASSWORD|KEY)=\S", recipe.replace("_FILE=", ""))
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".fno"} <= set(ignored)
