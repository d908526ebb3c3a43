"""The upstream systems: one module per system, `base.py` the policies they share. Their
registry (`registry.py`) is imported only where a config's `system:` is resolved, so the core
loads no upstream module.

Each answer has one typed shape (`typed.py`): a `msgspec.Struct` its decoder checks the answer
against. Adding a metric that reads one plain field (a count, bytes, milliseconds, a boolean, an
RFC 3339 time) is one line on that shape:
`rows_synced: Annotated[Integer | None, Plain(MIRROR_ROWS_SYNCED)] = None` (`fields.py`). A state
set, an info metric or a value derived from several fields is a `MetricSpec` row in the
entity's `Metrics` table, filled by the source's builder.
"""
