"""Benchmarks of the installed exporter, run from the repository root as modules:
`python -m benchmarks.run` (scale) and `python -m benchmarks.soak` (hours against churn)."""
