"""Every state of the sources' state sets has a colour, and the generator stops on one without."""

from __future__ import annotations

import pytest

from dataflow_exporter.families import StateSet
from grafana import colours


def test_every_state_of_the_sources_state_sets_has_a_colour() -> None:
    for system, state_sets in colours.STATE_SETS.items():
        for states in state_sets:
            for name in (*states.values, *states.sparse):
                assert name in colours.status_colors(), (system, name)
                assert name in colours.statuses(system)


def test_a_state_without_a_colour_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(colours.STATE_SETS, "peerdb", (StateSet(("STATUS_HIBERNATING",)),))
    with pytest.raises(SystemExit, match="STATUS_HIBERNATING"):
        colours.status_colors()


def test_a_systems_states_are_its_sets_in_order_sparse_ones_sorted_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sets = (StateSet(("b", "a"), frozenset({"z", "c"})), StateSet(("a", "d")))
    monkeypatch.setitem(colours.STATE_SETS, "peerdb", sets)
    assert colours.statuses("peerdb") == ["b", "a", "c", "z", "d"]
