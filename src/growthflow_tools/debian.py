"""Installing a Debian package the test command needs (a system browser, a broker), when it
is missing and we may: as root, with apt-get. Otherwise one line that says what to run."""

from __future__ import annotations

import os
import shutil
import subprocess

from growthflow.errors import ConfigError, ServiceUnavailable


def ensure_debian_packages(packages: tuple[str, ...], purpose: str, say=lambda message: None) -> None:
    """Install ``packages`` (apt-get update once, then install); the caller checked they are missing."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ConfigError(f"{purpose} need Debian's {' and '.join(packages)}: sudo apt-get install {' '.join(packages)}")
    say(f"installing {' and '.join(packages)} (Debian package{'s' if len(packages) > 1 else ''}) for {purpose}...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ServiceUnavailable(f"`{' '.join(command)}` failed: {tail[0]}")
