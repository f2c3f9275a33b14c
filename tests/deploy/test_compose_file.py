"""docker/compose.yaml is read the same by Compose v1 (Debian bookworm's docker-compose 1.29) and v2.

No Docker Engine needed: `config` only parses, interpolates and validates. The v2 binary is Debian trixie's
docker-compose package, fetched once and cached (docker/compose-v2.sh). Skipped with the reason where a
compose cannot be had; under CI=true it must run, so it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.deploy import stack as deploy
from tests.unavailable import outside_the_project

pytestmark = pytest.mark.deploy

RUNTIME_SERVICES = ("web", "worker", "embedder", "embedder-gpu", "beat")


@pytest.fixture(scope="module")
def composes() -> dict[str, list[str]]:
    if not shutil.which("docker-compose"):
        outside_the_project("Debian's docker-compose (v1) is not installed")
    v2, reason = deploy.compose_v2_command()
    if v2 is None:
        outside_the_project(reason)
    return {"v1": ["docker-compose"], "v2": v2}


def _config(command: list[str], *files, quiet: bool = False) -> subprocess.CompletedProcess:
    args = [arg for f in files for arg in ("-f", str(f))]
    return subprocess.run(
        [*command, *args, "--profile", "gpu", "config", *(["--quiet"] if quiet else [])],
        cwd=deploy.ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DRIFTDESK_ENV_FILE": "driftdesk.env.example",
             "DD_PG_PORT": "15432", "DD_REDIS_PORT": "16379", "DD_WEB_PORT": "18000"},
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_compose_accepts_the_compose_file_and_the_host_network_override(composes, version):
    production = _config(composes[version], deploy.DOCKER / "compose.yaml", quiet=True)
    assert production.returncode == 0, production.stderr
    hostnet = _config(composes[version], deploy.compose_without_ports(), deploy.DOCKER / "compose.hostnet.yaml",
                      quiet=True)
    assert hostnet.returncode == 0, hostnet.stderr


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_only_migrate_gets_the_database_owners_connection(composes, version):
    result = _config(composes[version], deploy.DOCKER / "compose.yaml")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    env = {name: service.get("environment") or {} for name, service in services.items()}
    assert env["migrate"]["DATABASE_OWNER_URL"].startswith("postgres://driftdesk_owner:")
    for name in RUNTIME_SERVICES:
        assert env[name]["DATABASE_URL"].startswith("postgres://driftdesk_app:"), name
        assert not env[name]["DATABASE_OWNER_URL"], name
        assert not env[name]["DRIFTDESK_DB_OWNER_PASSWORD"], name
    assert env["embedder-gpu"]["DRIFTDESK_EMBED_DEVICE"] == "cuda"
