"""Property tests: whatever JSON an upstream sends, a source either translates it or raises the
classified `UpstreamError` — never anything else, never a hang."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_exporter import config as config_mod
from dataflow_exporter.errors import Reason, UpstreamError
from dataflow_exporter.snapshot import build_snapshot
from dataflow_exporter.sources import REGISTRY
from dataflow_exporter.upstream import Answer
from tests.support.helpers import answer_of

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64) | st.floats() | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
# Payloads shaped like the real ones (objects holding lists of objects) reach deeper code paths.
shaped = st.dictionaries(
    st.sampled_from(
        [
            "mirrors",
            "status",
            "name",
            "data",
            "items",
            "inputs",
            "outputs",
            "cdcBatches",
            "slotData",
            "metrics",
            "global_metrics",
            "mirror_lags",
            "link_name",
            "mirror_topic_name",
            "token",
            "deployment_status",
            "flowId",
            "auditId",
            "started",
            "ended",
            "kind",
            "metadata",
            "next",
        ]
    ),
    json_values,
    max_size=8,
) | st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=6), max_size=4)


class ArbitraryClient:
    """Answers every request with the next drawn payload (cycling)."""

    def __init__(self, payloads: list[Any]) -> None:
        self.payloads = payloads or [{}]
        self.calls = 0

    def _next(self) -> Any:
        payload = self.payloads[self.calls % len(self.payloads)]
        self.calls += 1
        if self.calls > 500:
            raise UpstreamError(Reason.SCHEMA, "too many requests for one poll")
        return payload

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._next()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        return answer_of(self._next())

    async def post(self, path: str, body: Mapping[str, Any]) -> Answer:
        return answer_of(self._next())

    async def post_json(
        self, path: str, body: Mapping[str, Any], *, authenticate: bool = True
    ) -> Any:
        return self._next()


def _target(system: str) -> Any:
    extra: dict[str, Any] = {
        "confluent": {"cluster_id": "lkc-1", "username": "k", "password": "secret-value"},
        "etlworks": {"api_key": "key-value"},
    }.get(system, {})
    cfg = config_mod.parse(
        {"targets": [{"name": "t", "system": system, "url": "http://u", **extra}]}, env={}
    )
    return cfg.targets[0]


@pytest.mark.slow
@pytest.mark.parametrize("system", sorted(REGISTRY))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(shaped | json_values, min_size=1, max_size=4))
def test_any_json_is_translated_or_classified(system: str, payloads: list[Any]) -> None:
    source = REGISTRY[system](_target(system), clock=lambda: 1_700_000_000.0)
    client = ArbitraryClient(payloads)

    async def poll() -> None:
        try:
            result = await asyncio.wait_for(source.poll(client), 5)  # type: ignore[arg-type]
        except UpstreamError:
            return
        # The renderer formats values as floats; an int would print without its ".0".
        assert all(type(v) is float for f in result.families for _, v in f.samples)
        build_snapshot(result.families, (("target", "t"),), 100_000, result.entities, 0.0)

    asyncio.run(poll())
