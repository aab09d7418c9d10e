"""Helpers shared by the benchmarks: a scratch warehouse database, timing, peak memory."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid

import psycopg
from psycopg import sql

from growthflow_tools.services import ensure_warehouse
from growthflow.config import OWNER_ROLE
from growthflow.migrate import migrate
from growthflow.warehouse import create_database


@contextlib.contextmanager
def scratch_database(keep_as: str | None = None):
    """A fresh, migrated warehouse database, dropped afterwards unless ``keep_as`` names it."""
    targets, _ = ensure_warehouse(quiet=True)
    name = keep_as or f"gf_bench_{uuid.uuid4().hex[:8]}"
    if keep_as:
        with psycopg.connect(targets.admin_conninfo, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    with psycopg.connect(targets.admin_conninfo, autocommit=True) as admin:
        create_database(admin, name, OWNER_ROLE)
    url = targets.owner_url.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    try:
        yield url
    finally:
        if not keep_as:
            with psycopg.connect(targets.admin_conninfo, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# The child's own high-water mark (VmHWM): ru_maxrss would carry the parent's peak across
# fork and exec on Linux, so a benchmark whose parent grows would report its parent's memory.
_PEAK = ("\nprint('PEAK_KIB', next(int(l.split()[1]) for l in open('/proc/self/status')"
         " if l.startswith('VmHWM:')))\n")


def run_measured(code: str) -> tuple[float, float, str]:
    """Run Python ``code`` in a child process; return (seconds, its own peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + _PEAK], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    peak = int(lines[-1].split()[1]) / 1024
    return seconds, peak, "\n".join(lines[:-1])


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(v).rjust(w) for v, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])
