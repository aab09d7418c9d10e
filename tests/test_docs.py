"""The docs build without a broken link, the README stays short, and the configuration
page lists every setting the one Settings module reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from growthflow.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"


def _anchors(markdown: str) -> set[str]:
    """Heading ids as Python-Markdown's toc extension makes them (mkdocs' default)."""
    from markdown.extensions.toc import slugify

    return {slugify(m.group(1).strip(), "-") for m in re.finditer(r"(?m)^#{1,6} (.+)$", markdown)}


def test_the_docs_build_in_strict_mode(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-q", "-d",
                             str(tmp_path / "site")], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "data-quality" / "index.html").exists()


def test_every_docs_page_is_in_the_navigation():
    nav = (PROJECT_ROOT / "mkdocs.yml").read_text()
    assert {p.name for p in DOCS.glob("*.md")} <= set(re.findall(r"([\w-]+\.md)", nav))


def test_the_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        file = PROJECT_ROOT / path
        if not file.exists():
            broken.append(target)
        elif anchor and anchor not in _anchors(file.read_text()):
            broken.append(target)
    assert not broken


def test_the_configuration_page_lists_every_setting():
    variables = set(re.findall(r'"(GROWTHFLOW_[A-Z_]+)"', (PROJECT_ROOT / "src/growthflow/config.py").read_text()))
    assert len(variables) >= 25
    page = (DOCS / "configuration.md").read_text()
    assert not {v for v in variables if f"`{v}`" not in page}
