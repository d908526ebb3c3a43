#!/usr/bin/env bash
# Regenerates everything that comes from alerts/config.yml: the alert rules
# (alerts/dataflow-exporter.rules.yml), the Helm chart's copies of the rules template and the
# config, and the dashboards (grafana/*.json and the chart's copies).
#
#   scripts/regenerate.sh
#
# Works from a fresh clone: the generators import the package, so without the README's .venv it
# makes one first (the system Python may refuse pip installs, PEP 668). The package must import
# before either generator writes, so rules and dashboards cannot end up half updated.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c 'import dataflow_exporter, yaml' >/dev/null 2>&1; then
  echo "regenerate: making .venv (python3 -m venv .venv && .venv/bin/pip install -e .)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e .
fi
.venv/bin/python alerts/generate.py
.venv/bin/python -m grafana.generate
echo "regenerate: wrote alerts/dataflow-exporter.rules.yml, grafana/*.json and the chart's copies"
