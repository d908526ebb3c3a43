"""What a poll reports about single entities besides their series: the contract between the
sources, which fill these records, and the core (store, status page, status API), which keeps
and shows them. Here, not in `sources/`, so the core reads them without loading any upstream.
"""

from __future__ import annotations

import msgspec

from dataflow_exporter.errors import Reason


class DetailFailure(msgspec.Struct, frozen=True, gc=False):
    """One entity's detail call that failed while the target's inventory answered."""

    entity: str  # what the user sees it as, e.g. "mirror orders", "pipeline fraud"
    endpoint: str  # the kind of call, one of a source's few fixed names (a label value)
    reason: Reason
    message: str


class BrokenEntity(msgspec.Struct, frozen=True, gc=False):
    """One entity that is not healthy now, in the upstream's own words (for on-call, not for
    labels: error texts never become series)."""

    kind: str  # "mirror", "pipeline", "input connector", "link", "mirror topic", "flow", ...
    # The entity's names as its series label them, e.g. (("link", "dr"), ("topic", "orders")).
    names: tuple[tuple[str, str], ...]
    state: str  # the upstream's own state, or what crossed an alert threshold
    error: str = ""  # the upstream's own error text; "" when it gives none
    since: float | None = None  # the upstream's own state-change time, when it reports one
