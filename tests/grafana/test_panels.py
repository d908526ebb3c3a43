"""The table builder: which fields it shows, how it names them, how it colours status columns."""

from __future__ import annotations

from typing import Any

import pytest

from grafana import colours
from grafana.panels import table


def organize(panel: dict[str, Any]) -> dict[str, Any]:
    step = panel["transformations"][1]
    assert step["id"] == "organize"
    options: dict[str, Any] = step["options"]
    return options


def test_a_table_drops_prometheus_bookkeeping_fields() -> None:
    panel = table("t", "d", [("A", "up")], {"Value": "Up"})
    assert organize(panel)["excludeByName"] == {
        "Time": True,
        "__name__": True,
        "job": True,
        "instance": True,
    }


def test_a_kept_field_is_shown_and_the_others_still_dropped() -> None:
    panel = table("t", "d", [("A", "up")], {"Value": "Up"}, keep=("instance",))
    assert organize(panel)["excludeByName"] == {"Time": True, "__name__": True, "job": True}


def test_hidden_fields_and_unnamed_values_are_dropped() -> None:
    panel = table("t", "d", [("A", "x"), ("B", "y")], {"Value #B": "Y"}, hide=("status",))
    excluded = organize(panel)["excludeByName"]
    assert (excluded.get("status"), excluded.get("Value #A"), excluded.get("Value #B")) == (
        True,
        True,
        None,
    )


def test_the_value_of_a_single_query_is_named_value() -> None:
    panel = table("t", "d", [("C", "x")], {"Value #C": "Lag"}, units={"Value #C": "s"})
    assert organize(panel)["renameByName"] == {"Value": "Lag"}
    assert panel["fieldConfig"]["overrides"][0]["matcher"]["options"] == "Lag"


def test_columns_are_ordered_as_declared() -> None:
    panel = table("t", "d", [("A", "x"), ("B", "y")], {"Value #B": "B", "target": "Target"})
    assert organize(panel)["indexByName"] == {"Value #B": 0, "target": 1}


def test_a_status_column_is_coloured_by_its_systems_states_in_order() -> None:
    panel = table(
        "t", "d", [("A", "x")], {"status": "State"}, status_columns=("status",), system="etlworks"
    )
    (override,) = panel["fieldConfig"]["overrides"]
    options = override["properties"][1]["value"][0]["options"]
    assert list(options) == colours.statuses("etlworks")
    assert options["error"] == {
        "color": colours.RED,
        "index": colours.statuses("etlworks").index("error"),
    }


def test_a_status_column_without_its_system_is_refused() -> None:
    with pytest.raises(ValueError, match="need the system"):
        table("t", "d", [("A", "x")], {"status": "State"}, status_columns=("status",))
