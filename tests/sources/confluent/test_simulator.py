"""The simulated Confluent cluster behaves like a real one over time."""

from __future__ import annotations

import itertools

from dataflow_exporter.simulator.confluent import ConfluentSimulator

START = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def test_active_partitions_fetch_forward_while_their_lag_grows_and_drains() -> None:
    clock = Clock()
    sim = ConfluentSimulator(clock, topics=1, partitions=12)
    orders = sim.topics[0]
    history: dict[int, list[tuple[int, int]]] = {}
    for step in range(0, 600, 10):
        clock.now = START + step
        state = sim.state_of(orders)
        assert state == ("ACTIVE", START - 3 * 86400)
        for entry in sim.lags(orders, *state):
            history.setdefault(entry["partition"], []).append(
                (entry["lag"], entry["last_source_fetch_offset"])
            )
    fetching = {p: h for p, h in history.items() if h[0][1] != -1}
    assert fetching
    for seen in fetching.values():
        offsets = [offset for _, offset in seen]
        assert offsets == sorted(offsets)
    lags = [lag for seen in fetching.values() for lag in (s[0] for s in seen)]
    assert max(lags) > 0
    assert any(
        later < earlier
        for seen in fetching.values()
        for (earlier, _), (later, _) in itertools.pairwise(seen)
    )


def test_mirror_lags_are_not_listed_in_partition_order() -> None:
    sim = ConfluentSimulator(Clock(), topics=5, partitions=12)
    orders = [[e["partition"] for e in sim.lags(t, "ACTIVE", START)] for t in sim.topics]
    assert all(sorted(order) == list(range(12)) for order in orders)
    assert any(order != sorted(order) for order in orders)


def test_generated_topics_pause_now_and_then_and_record_when() -> None:
    clock = Clock()
    sim = ConfluentSimulator(clock, topics=200, state_period=60)
    paused: list[float] = []
    for epoch in range(5):
        clock.now = START + epoch * 60 + 1
        paused += [
            since
            for topic, status, since in sim.live_topics()
            if status == "PAUSED" and topic.behaviour == "generated"
        ]
    assert paused
    assert all(since in {START + e * 60 for e in range(5)} for since in paused)


def test_the_named_scenario_needs_its_links() -> None:
    assert [t.name for t in ConfluentSimulator(Clock(), links=1, topics=5).topics] == [
        "orders",
        "payments",
        "audit-log",
        "inventory-changes",
        "topic-00000",
    ]
    assert ConfluentSimulator(Clock(), links=0).topics == ()
