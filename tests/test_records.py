"""The records a poll reports about single entities: immutable values the store keeps and the
status view reads, with no error text or time unless the upstream gave one."""

from __future__ import annotations

import msgspec
import pytest

from dataflow_exporter.errors import Reason
from dataflow_exporter.records import BrokenEntity, DetailFailure


def test_a_broken_entity_has_no_error_text_or_time_unless_the_upstream_gave_one() -> None:
    entity = BrokenEntity("mirror", (("mirror", "orders"),), "STATUS_PAUSED")
    assert (entity.error, entity.since) == ("", None)


def test_records_are_immutable_values() -> None:
    failure = DetailFailure("mirror orders", "stats", Reason.HTTP_5XX, "upstream said 502")
    with pytest.raises(AttributeError):
        failure.message = "changed"  # type: ignore[misc]
    assert failure == DetailFailure("mirror orders", "stats", Reason.HTTP_5XX, "upstream said 502")
    assert len({failure, msgspec.structs.replace(failure)}) == 1
