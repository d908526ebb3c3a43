"""Test helpers: run polls against configs, parse expositions, call promtool."""

from __future__ import annotations

import functools
import subprocess
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import aiohttp
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from dataflow_exporter import config as config_mod
from dataflow_exporter.exporter import Exporter
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import Answer, new_session
from tests.support.tools import require_tool

Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of a text exposition as {(name, labels): value}; fails on duplicates."""
    return dict(_parsed(text))


# prometheus_client's parser reads a character at a time, and tests ask `value` and
# `series_of` many questions of one exposition: parsing each text once took a third of the
# quick run's time. A text that fails to parse raises and is not remembered.
@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> Mapping[tuple[str, Labels], float]:
    out: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return MappingProxyType(out)


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one series `name{labels...}` (a subset match must be unique)."""
    want = set(labels.items())
    found = [v for (n, ls), v in _parsed(text).items() if n == name and want <= ls]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
    return found[0] if found else None


def series_of(text: str, name: str) -> list[dict[str, str]]:
    """Label sets of every series of `name`."""
    return [dict(ls) for (n, ls) in _parsed(text) if n == name]


@dataclass
class Polled:
    """The outcome of polling a config once."""

    ok: bool
    text: str
    store: Store
    scheduler: Scheduler
    exporter: Exporter


# The exporter behind each scheduler `poll_once` handed out, so that passing it back polls
# again with the same state. Weak: an exporter goes with the last `Polled` that holds it (it
# holds its scheduler, so an id is never reused while its entry lives).
_EXPORTER_OF: weakref.WeakValueDictionary[int, Exporter] = weakref.WeakValueDictionary()
# A scheduler a test built itself (for its clock or its store) stands for the exporter made
# from its parts, for as long as the test keeps it.
_STANDING_IN: weakref.WeakKeyDictionary[Scheduler, Exporter] = weakref.WeakKeyDictionary()


def _exporter_for(cfg: config_mod.Config, scheduler: Scheduler) -> Exporter:
    """The exporter to poll again with."""
    known = _EXPORTER_OF.get(id(scheduler))
    if known is not None and known.scheduler is scheduler:
        return known
    if scheduler not in _STANDING_IN:
        _STANDING_IN[scheduler] = Exporter(
            cfg,
            clock=scheduler.clock,
            runtime_metrics=False,
            session=scheduler.session,
            store=scheduler.store,
        )
    return _STANDING_IN[scheduler]


async def poll_once(
    data: Mapping[str, Any],
    session: aiohttp.ClientSession | None = None,
    scheduler: Scheduler | None = None,
    clock: Callable[[], float] = time.time,
) -> Polled:
    """Poll every target of a config (as YAML data) once and render the exposition, through
    the `Exporter` as `once` does; pass an earlier `Polled.scheduler` to poll again with its
    state (its exporter reloads the config first)."""
    cfg = config_mod.parse(dict(data), env={})
    own = session is None
    session = session or new_session()
    try:
        if scheduler is None:
            exporter = Exporter(cfg, clock=clock, runtime_metrics=False, session=session)
        else:
            exporter = _exporter_for(cfg, scheduler)
        if exporter.config != cfg:
            errors = await exporter.reload(cfg)
            assert not errors, errors
        ok = await exporter.poll_once()
        assert exporter.scheduler is not None
        _EXPORTER_OF[id(exporter.scheduler)] = exporter
        text = exporter.exposition().decode()
        return Polled(ok, text, exporter.store, exporter.scheduler, exporter)
    finally:
        if own:
            await session.close()


def promtool_check_metrics(text: str) -> None:
    """Fail the test unless `promtool check metrics` accepts the exposition (lint included)."""
    result = subprocess.run(
        [require_tool("promtool"), "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def answer_of(payload: Any) -> Answer:
    """A 2xx answer whose body is `payload` as JSON (integers beyond 64 bits included)."""
    return Answer(msgspec.json.encode(payload), "GET /drawn")


def alerts_generator() -> Any:
    """alerts/generate.py as a module (it is a script, not part of the package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "alerts" / "generate.py"
    spec = importlib.util.spec_from_file_location("alerts_generate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
