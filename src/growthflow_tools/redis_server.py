"""The project-local Redis: Celery's broker when ``GROWTHFLOW_EXECUTOR=celery``.

Like the local PostgreSQL it lives under ``$GROWTHFLOW_HOME`` (``.local/redis``), listens
on 127.0.0.1 at a non-default port (``GROWTHFLOW_REDIS_PORT``, 63799) and asks for a
generated password, so no other local user can put work on Airflow's queues. It keeps an
append-only file: messages waiting on a queue survive a restart of the broker.

The server is the machine's own ``redis-server`` (Debian: ``apt-get install redis-server``)
or ``GROWTHFLOW_REDIS_BIN``. With ``AIRFLOW__CELERY__BROKER_URL`` set, growthflow uses
that broker and starts none.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from growthflow.config import Settings
from growthflow.errors import ServiceUnavailable
from growthflow_tools.processes import alive

INSTALL_HINT = ("install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), "
                "set GROWTHFLOW_REDIS_BIN=/path/to/redis-server, or point AIRFLOW__CELERY__BROKER_URL "
                "at a running Redis")
_SEARCH = ("/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server",
           "/opt/homebrew/bin/redis-server")


def find_redis_server(explicit: str | None = None) -> Path:
    """$GROWTHFLOW_REDIS_BIN, then PATH, then the usual install locations."""
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return Path(explicit)
        raise ServiceUnavailable(f"GROWTHFLOW_REDIS_BIN={explicit} is not an executable redis-server: "
                                 f"fix the path or unset it")
    for candidate in (shutil.which("redis-server"), *_SEARCH):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ServiceUnavailable(f"GROWTHFLOW_EXECUTOR=celery needs Redis as Celery's broker and no redis-server "
                             f"was found: {INSTALL_HINT}")


class LocalRedis:
    """Lifecycle of the project-local Redis server."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.redis_dir
        self.port = settings.redis_port
        self.log_file = self.dir / "redis.log"
        self._pid_file = self.dir / "redis.pid"

    @property
    def password(self) -> str:
        path = self.dir / ".password"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def _config(self) -> Path:
        """The server's settings in a file (0600), so the password never shows in a process list."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "redis.conf"
        path.write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", f"requirepass {self.password}",
            f"dir {self.dir}", f"pidfile {self._pid_file}", "daemonize no", "protected-mode yes",
            # Queued messages survive a restart of the broker; no RDB snapshots beside it.
            "appendonly yes", "appendfsync everysec", 'save ""',
            "loglevel notice", "",
        ]))
        path.chmod(0o600)
        return path

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2).ping())
        except (redis.exceptions.RedisError, OSError):
            return False

    def pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None and self.ping()

    def start(self, wait_seconds: float = 30) -> bool:
        """Start the server if it is not running; returns True if it started it."""
        if self.is_running():
            return False
        binary = find_redis_server(self.settings.redis_bin)
        config = self._config()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen([str(binary), str(config)], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if self.ping():
                return True
            time.sleep(0.2)
        process.kill()
        raise ServiceUnavailable(f"Redis did not start on 127.0.0.1:{self.port} ({_last_line(self.log_file)}); "
                                 f"if the port is taken set GROWTHFLOW_REDIS_PORT, see {self.log_file}")

    def stop(self, timeout: float = 30) -> bool:
        """Stop the server (SIGTERM: it finishes writing its append-only file first)."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(pid)
            if not alive(pid):
                return True
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        return True


def _reap(pid: int) -> None:
    """Collect the exit status when this process started the server (else it lingers as a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip()[-200:] if lines else "no log"


def ensure_redis_server(settings: Settings, say=lambda message: None) -> None:
    """Install Debian's redis-server for the Celery tests when no server is found and we may."""
    try:
        find_redis_server(settings.redis_bin)
    except ServiceUnavailable:
        from growthflow_tools.debian import ensure_debian_packages

        ensure_debian_packages(("redis-server",), "the Celery tests", say)
