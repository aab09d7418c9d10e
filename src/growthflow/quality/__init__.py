"""Data-quality checks: GX suites from ``expectations/``, run per layer, reported and stored.

Data flows one way through this package: ``suites`` (what to check, from YAML)
-> ``parameters`` (values the checks compare against) -> ``runner`` (GX runs)
-> ``report`` (the text in the task log) and ``history`` (``dq.validation_results``).
"""
