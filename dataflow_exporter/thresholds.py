"""The alert settings that call an entity broken on the status page and in `/api/v1/status`:
each alert's thresholds, `for:` duration and `statuses` selection.

The defaults are `alerts_config.yml` beside this module, a byte-identical copy of the project's
alerts/config.yml that alerts/generate.py writes, so the installed package carries the values the
shipped rules come from. `global.alerts` in the exporter's config overrides them with the keys of
alerts/config.yml (those of the chart's `prometheusRule.config.alerts`), so rules tuned there and
the page agree once the same overrides are given to both.

Sources look values up by alert name; the core never looks inside.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from dataflow_exporter.config_models import parse_duration

DEFAULTS_FILE = "alerts_config.yml"
# The keys whose values are regular expressions on a label (`status`, `flow`, `reason`); every
# other key but the durations is a number.
SELECTION_KEYS = frozenset({"statuses", "exclude_flows", "reasons"})
# The keys whose values are Prometheus durations, like `for`.
DURATION_KEYS = frozenset({"for", "window"})


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Every alert's settings (alert name -> key -> value), as in alerts/config.yml."""

    alerts: Mapping[str, Mapping[str, Any]]
    _patterns: dict[tuple[str, str], re.Pattern[str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def number(self, alert: str, key: str) -> float:
        """A threshold, e.g. number("PeerDBSlotLagHigh", "threshold_bytes")."""
        return float(self.alerts[alert][key])

    def wait(self, alert: str) -> float:
        """The alert's `for:` in seconds."""
        return self.duration(alert, "for")

    def duration(self, alert: str, key: str) -> float:
        """A duration setting in seconds (`for`, a `window`)."""
        return parse_duration(self.alerts[alert][key])

    def selects(self, alert: str, state: str, key: str = "statuses") -> bool:
        """True if the alert's selection matches `state` whole, as Prometheus' `=~` does."""
        pattern = self._patterns.get((alert, key))
        if pattern is None:
            pattern = re.compile(str(self.alerts[alert][key]))
            self._patterns[(alert, key)] = pattern
        return pattern.fullmatch(state) is not None


@functools.cache
def _shipped() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath(DEFAULTS_FILE).read_text(encoding="utf-8")
    alerts: dict[str, dict[str, Any]] = yaml.safe_load(text)["alerts"]
    return alerts


def defaults() -> AlertSettings:
    """The shipped settings, those the shipped rules file was generated from."""
    return AlertSettings(_shipped())


def settings(overrides: Mapping[str, Mapping[str, Any]]) -> AlertSettings:
    """The shipped settings with `overrides` (checked by `problems`) merged in, key by key."""
    if not overrides:
        return defaults()
    merged = {alert: dict(params) for alert, params in _shipped().items()}
    for alert, params in overrides.items():
        merged[alert].update(params)
    return AlertSettings(merged)


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def problems(raw: Any) -> list[tuple[tuple[str, ...], str]]:
    """Each mistake in an overrides mapping, as (path below it, message)."""
    if not isinstance(raw, dict):
        return [((), "expected a mapping of alert names to settings, as in alerts/config.yml")]
    shipped = _shipped()
    found: list[tuple[tuple[str, ...], str]] = []
    for alert, params in raw.items():
        if alert not in shipped:
            hint = _suggest(str(alert), list(shipped)) or " (alerts/config.yml lists them)"
            found.append(((str(alert),), f"no such alert{hint}"))
        elif not isinstance(params, dict):
            found.append(((alert,), "expected a mapping of settings (for, statuses, thresholds)"))
        else:
            found += [((alert, str(k)), m) for k, m in _setting_problems(alert, params)]
    return found


def _setting_problems(alert: str, params: dict[Any, Any]) -> list[tuple[Any, str]]:
    known = list(_shipped()[alert])
    found: list[tuple[Any, str]] = []
    for key, value in params.items():
        if key not in known:
            hint = _suggest(str(key), known) or f" (it has: {', '.join(known)})"
            found.append((key, f"{alert} has no such setting{hint}"))
        elif key in DURATION_KEYS:
            try:
                parse_duration(value, from_yaml=True)
            except ValueError as exc:
                found.append((key, str(exc)))
        elif key in SELECTION_KEYS:
            if not isinstance(value, str):
                found.append((key, "expected a regular expression (quote it)"))
                continue
            try:
                re.compile(value)
            except re.error as exc:
                found.append((key, f"invalid regular expression: {exc}"))
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            found.append((key, "expected a number of at least 0"))
    return found
