"""Test helpers: run polls against configs, parse expositions, call promtool."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from dataflow_exporter import config as config_mod
from dataflow_exporter.exposition_cache import ExpositionCache
from dataflow_exporter.scheduler import Scheduler
from dataflow_exporter.store import Store
from dataflow_exporter.upstream import Answer, new_session
from tests.support.tools import require_tool

Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of a text exposition as {(name, labels): value}; fails on duplicates."""
    out: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one series `name{labels...}` (a subset match must be unique)."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples(text).items() if n == name and want <= ls]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
    return found[0] if found else None


def series_of(text: str, name: str) -> list[dict[str, str]]:
    """Label sets of every series of `name`."""
    return [dict(ls) for (n, ls) in samples(text) if n == name]


@dataclass
class Polled:
    """The outcome of polling a config once."""

    ok: bool
    text: str
    store: Store
    scheduler: Scheduler


async def poll_once(
    data: Mapping[str, Any],
    session: aiohttp.ClientSession | None = None,
    scheduler: Scheduler | None = None,
    clock: Callable[[], float] = time.time,
) -> Polled:
    """Poll every target of a config (as YAML data) once and render the exposition."""
    cfg = config_mod.parse(dict(data), env={})
    own = session is None
    session = session or new_session()
    try:
        if scheduler is None:
            scheduler = Scheduler(session, Store(), clock)
        scheduler.configure(cfg)
        ok = await scheduler.poll_all_once()
        text = ExpositionCache(scheduler.store).exposition().decode()
        return Polled(ok, text, scheduler.store, scheduler)
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
    try:
        body = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # orjson refuses integers beyond 64 bits
        body = json.dumps(payload).encode()
    return Answer(body, "GET /drawn")


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
