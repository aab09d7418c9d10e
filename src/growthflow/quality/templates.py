"""Compile GX's Data Docs templates once per machine instead of once per page.

GX renders each Data Docs page through a new ``DefaultJinjaView``, and each view
builds a new Jinja ``Environment`` with an empty template cache, so every page
parses and compiles the same templates again. In a raw check that compiling was
about 80% of the Data Docs build, and the Data Docs build about half the check
(measured on the demo's ingest, docs/benchmarks.md).

Jinja's own answer is a bytecode cache: compiled templates are stored on disk,
keyed by template name and checked against the template source, so a GX upgrade
recompiles on its own. Every view GX creates gets the one shared cache. The
pages are the same; only the compiling is skipped. The cache sits in Jinja's
default per-user directory under the system temp folder.
"""

from __future__ import annotations

import jinja2

_CACHE: jinja2.BytecodeCache | None = None


class _SharedCacheEnvironment(jinja2.Environment):
    """An Environment that uses the shared bytecode cache unless given another."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("bytecode_cache", _CACHE)
        super().__init__(*args, **kwargs)


def share_compiled_templates() -> None:
    """Make every Jinja environment GX's views create use one bytecode cache (idempotent)."""
    global _CACHE
    from great_expectations.render.view import view as gx_view

    if _CACHE is None:
        _CACHE = jinja2.FileSystemBytecodeCache()
    gx_view.Environment = _SharedCacheEnvironment
