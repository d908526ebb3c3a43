"""The upstream systems: one module per system, `base.py` the policies they share. Their
registry (`registry.py`) is imported only where a config's `system:` is resolved, so the core
loads no upstream module.

Adding a metric that reads one plain JSON field (a count, bytes, milliseconds, a boolean, an
RFC 3339 time) is one line in the source's `Metrics` table: `Field(spec, path, conversion)`
(`sources/fields.py`; Feldera's tables are the example). A state set, an info metric or a value
derived from several fields is a `MetricSpec` row in the table, filled by the source's builder.
"""
