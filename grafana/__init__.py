"""The generator of the Grafana dashboards (grafana/*.json): `python -m grafana.generate`.

One module per dashboard (overview, peerdb, confluent, feldera, etlworks), each declaring its rows
of panels as data; the panel builders, the layout, the colours, the template variables and the
alert thresholds are shared.

Counting: two replicas of an HA pair export the same entities, and every shard exports each
target's dataflow_exporter_target_* series; only `instance` and the scrape's own labels tell
those copies apart. So every sum first keeps one series per entity (`max by` its identifying
labels, `min by (target, system)` for "up": down on any replica is down), and per-replica event
counters (errors, drops, unknown values) are summed as the events they are.
"""
