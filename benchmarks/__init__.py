"""Benchmarks of the installed exporter, run from the repository root as modules:
`.venv/bin/python -m benchmarks.run` (scale) and `.venv/bin/python -m benchmarks.soak` (hours
against churn)."""
