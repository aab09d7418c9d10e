"""growthflow's tools: the ``growthflow`` CLI, the demo, the synthetic data
generator with its ground truth, the LTV backtest, and helpers for tests and
benchmarks (local S3 server, headless browser, scratch databases).

DAG tasks never import this package (an import-linter contract in
``pyproject.toml`` holds that); it imports the runtime, ``growthflow``.
"""
