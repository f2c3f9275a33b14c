"""Build and run docker/compose.yaml on this machine, for the deploy test and `make docker-images`.

No image registry is reachable from these machines, so the Debian base images are made here
(docker/base-images.sh: debootstrap + docker import, cached), and the application image's build gets
the host's CA bundle (the registries sit behind a TLS-intercepting proxy) and the local CPU torch
wheel through the git-ignored docker/build-context/ folder. A real user's build needs neither.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BUILD_CONTEXT = DOCKER / "build-context"
IMAGES = {  # tag -> Dockerfile; the tags compose.yaml uses with DRIFTDESK_TAG=latest
    "driftdesk-postgres:latest": "docker/postgres.Dockerfile",
    "driftdesk-redis:latest": "docker/redis.Dockerfile",
    "driftdesk-app:latest": "docker/app.Dockerfile",
}


def log(message: str) -> None:
    print(f"[deploy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, timeout: float = 600, check: bool = True, env: dict | None = None,
        quiet: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    if not quiet and result.stdout.strip():
        log(result.stdout.strip()[-500:])
    return result


def compose_command() -> list[str] | None:
    """DRIFTDESK_COMPOSE picks one explicitly (e.g. "docker compose", or the path of a Compose v2 binary);
    otherwise Debian's docker-compose, then the docker compose plugin."""
    if os.environ.get("DRIFTDESK_COMPOSE"):
        return shlex.split(os.environ["DRIFTDESK_COMPOSE"])
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def compose_v2_command() -> tuple[list[str] | None, str]:
    """(a Compose v2 command, "") or (None, why not): DRIFTDESK_COMPOSE_V2 when set, else trixie's
    docker-compose 2.x fetched once into a cache by docker/compose-v2.sh (the system's packages untouched)."""
    if os.environ.get("DRIFTDESK_COMPOSE_V2"):
        return shlex.split(os.environ["DRIFTDESK_COMPOSE_V2"]), ""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        return None, "apt-get and dpkg-deb are needed to fetch Debian's docker-compose 2.x"
    result = subprocess.run([str(DOCKER / "compose-v2.sh")], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return None, f"docker/compose-v2.sh failed: {(result.stderr or result.stdout).strip()[-400:]}"
    return [result.stdout.strip().splitlines()[-1]], ""


def unavailable_reason() -> str | None:
    """Why Docker cannot run the stack here, or None when it can (starting dockerd if needed)."""
    if not shutil.which("docker") or not shutil.which("dockerd") and not _engine_up():
        return "Docker Engine is not installed (apt-get install docker.io docker-compose debootstrap)"
    if compose_command() is None:
        return "neither docker-compose nor the docker compose plugin is installed"
    if not _engine_up():
        result = subprocess.run([str(DOCKER / "ensure-dockerd.sh")], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            return f"Docker Engine cannot start here: {(result.stderr or result.stdout).strip()[-400:]}"
    missing = [name for name in ("debian:bookworm-slim", "debian:trixie-slim") if not _image_present(name)]
    if missing and not (shutil.which("debootstrap") and os.geteuid() == 0):
        return f"base images {missing} are missing and debootstrap (as root) is not available to make them"
    return None


def _engine_up() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _image_present(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def prepare_build_context() -> None:
    """The proxy's CA bundle and the local CPU torch wheel, for this machine's build only."""
    BUILD_CONTEXT.mkdir(exist_ok=True)
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if bundle and Path(bundle).is_file():
        shutil.copyfile(bundle, BUILD_CONTEXT / "ca.pem")
    wheels = BUILD_CONTEXT / "wheels"
    for folder in filter(None, os.environ.get("PIP_FIND_LINKS", "").split()):
        for wheel in Path(folder).glob("torch-*.whl"):
            wheels.mkdir(exist_ok=True)
            target = wheels / wheel.name
            if not target.exists():
                try:
                    os.link(wheel, target)
                except OSError:
                    shutil.copyfile(wheel, target)


def build() -> float:
    """Base images (cached), then the three images (Docker's layer cache keeps rebuilds short)."""
    started = time.monotonic()
    log("base images")
    run([str(DOCKER / "base-images.sh"), "bookworm", "trixie"], timeout=1800)
    prepare_build_context()
    for tag, dockerfile in IMAGES.items():
        log(f"building {tag}")
        # Host network: these machines may have no bridge networking for build containers.
        run(["docker", "build", "--network", "host", "-f", dockerfile, "-t", tag, "."], timeout=3600, quiet=True,
            env={"DOCKER_BUILDKIT": "0"})
    return time.monotonic() - started


def compose_without_ports() -> Path:
    """docker/compose.yaml without published ports (refused on the host network), next to it so that
    its relative paths still hold. Git-ignored."""
    import yaml

    config = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("x-")}
    for service in config["services"].values():
        service.pop("ports", None)
    target = DOCKER / ".compose.noports.yaml"
    target.write_text("# Generated by tests/deploy/stack.py from compose.yaml; do not edit.\n" + yaml.safe_dump(config))
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """One compose project on the host network, with its own ports, env file and volumes."""

    project: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    owner_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    runtime_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env_file(self) -> Path:
        return self.workdir / "driftdesk.env"

    def write_env_file(self) -> None:
        """The env file as docker/driftdesk.env.example has it, with this stack's ports on 127.0.0.1."""
        database = f"127.0.0.1:{self.pg_port}/driftdesk"
        values = {
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "POSTGRES_DB": "driftdesk",
            "DRIFTDESK_DB_OWNER_ROLE": "driftdesk_owner", "DRIFTDESK_DB_OWNER_PASSWORD": self.owner_password,
            "DATABASE_OWNER_URL": f"postgres://driftdesk_owner:{self.owner_password}@{database}",
            "DRIFTDESK_DB_RUNTIME_ROLE": "driftdesk_app", "DRIFTDESK_DB_RUNTIME_PASSWORD": self.runtime_password,
            "DATABASE_URL": f"postgres://driftdesk_app:{self.runtime_password}@{database}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CACHE_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "WEB_CONCURRENCY": "2", "WORKER_CONCURRENCY": "1",
            **self.extra_env,
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.env_file.chmod(0o600)

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*compose_command(), "-p", self.project, "-f", str(compose_without_ports()),
               "-f", "docker/compose.hostnet.yaml", *args]
        return run(cmd, timeout=timeout, check=check, quiet=True, env={
            "DRIFTDESK_ENV_FILE": str(self.env_file), "DRIFTDESK_TAG": "latest",
            "DD_PG_PORT": str(self.pg_port), "DD_REDIS_PORT": str(self.redis_port),
            "DD_WEB_PORT": str(self.web_port),
        })

    def up(self, *services: str) -> None:
        self.write_env_file()
        self.compose("up", "-d", "--no-build", *services, timeout=600)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip().splitlines()[0]

    def manage(self, *args: str, timeout: float = 300) -> str:
        return self.compose("exec", "-T", "web", "python", "manage.py", *args, timeout=timeout).stdout

    def psql(self, sql: str) -> str:
        return self.compose("exec", "-T", "postgres", "psql", "-h", "/run/postgresql", "-p", str(self.pg_port),
                            "-U", "postgres", "-d", "driftdesk", "-Atc", sql).stdout.strip()

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", check=False).stdout

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", check=False, timeout=300)


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m tests.deploy.stack build")
    reason = unavailable_reason()
    if reason:
        sys.exit(reason)
    log(f"built in {build():.0f} s")
