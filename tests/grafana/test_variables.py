"""Selectors apply the dashboard variables; the target variable offers a system's targets."""

from __future__ import annotations

from grafana.variables import MIRRORS, TOPICS, chosen, target_var


def test_a_selector_matches_each_label_against_its_variable() -> None:
    assert chosen("target", "flow") == 'target=~"$target", flow=~"$flow"'


def test_named_selectors_narrow_from_the_target_down() -> None:
    assert MIRRORS == 'target=~"$target", mirror=~"$mirror"'
    assert TOPICS == 'target=~"$target", link=~"$link", topic=~"$topic"'


def test_a_systems_target_variable_offers_only_that_systems_targets() -> None:
    query = 'label_values(dataflow_exporter_target_up{system="feldera"}, target)'
    assert target_var("feldera")["definition"] == query
    assert target_var("feldera")["query"]["query"] == query


def test_the_overview_target_variable_offers_every_target() -> None:
    assert target_var()["definition"] == "label_values(dataflow_exporter_target_up, target)"
