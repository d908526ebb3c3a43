"""The latest state of every target: its last good snapshot (pre-rendered sample lines) and its
poll health. Written only by the scheduler, read by the cache and the status page; every
change bumps `version`, which is what the exposition cache keys on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import msgspec

from dataflow_exporter.config_models import Shard
from dataflow_exporter.errors import Reason
from dataflow_exporter.records import BrokenEntity, DetailFailure
from dataflow_exporter.snapshot import Snapshot

# Broken entities kept per target (the worst upstream could report every entity broken); the
# status page and the API say how many more there were.
MAX_BROKEN_KEPT = 5000
# Characters of an upstream error text kept (broken entities, failing detail calls, failed
# polls): one 10 MB error must not be held, nor scrubbed, whole. Longer than the status view's
# scrub read (`credential_text.read_bound`), so the view still sees that a text was cut and
# drops the word cut in two.
MAX_TEXT_KEPT = 16 * 1024
# What identifies one broken entity in one state, for "since when".
BrokenKey = tuple[str, tuple[tuple[str, str], ...], str]

# Distinct (system, field) pairs counted in `unknown_values`: field names can come from an
# upstream's payload, and each pair is a self-metric series. Past the cap, new pairs count
# under OTHER_FIELD.
MAX_UNKNOWN_FIELDS = 1000
OTHER_FIELD = "(other)"


@dataclass(slots=True)
class TargetState:
    """Poll health and the last good snapshot of one target."""

    name: str
    system: str
    interval: float
    stale_after: float
    snapshot: Snapshot | None = None
    up: bool = False
    last_success: float | None = None
    last_poll_at: float | None = None
    last_duration: float = 0.0
    last_error_reason: str | None = None
    last_error: str | None = None
    polls_total: int = 0
    errors_total: Counter[str] = field(default_factory=Counter)
    dropped_total: int = 0
    consecutive_failures: int = 0
    # The source's kinds of detail call, so their counters exist at 0 before the first failure.
    detail_endpoints: tuple[str, ...] = ()
    # The enum fields its source counts unknown values of, exported at 0 from the start.
    unknown_value_fields: tuple[str, ...] = ()
    # Detail calls that failed in the last successful poll (the entities are still exported).
    detail_failures: tuple[DetailFailure, ...] = ()
    detail_errors_total: Counter[tuple[str, str]] = field(default_factory=Counter)
    # What the upstream's release serves (False: it lacks that route or field).
    capabilities: Mapping[str, bool] = field(default_factory=dict)
    # When the target was configured (or the process started): a target that never succeeds
    # goes stale `stale_after` later, like one that stopped succeeding.
    configured_at: float | None = None
    # Entities not healthy in the last good poll, and how many were left out beyond the cap.
    broken: tuple[BrokenEntity, ...] = ()
    broken_omitted: int = 0
    # When the exporter first saw each broken entity (or failing detail) in its current state;
    # holds only what is broken now, so it stays as small as `broken`.
    first_seen: Mapping[BrokenKey, float] = field(default_factory=dict)
    # The poller's plan: when the next poll is due and what stretched the wait.
    next_poll_at: float | None = None
    retry_after: float | None = None

    @property
    def polled(self) -> bool:
        """True once a poll of the target has finished, whatever its outcome."""
        return self.last_poll_at is not None

    def stale(self, now: float) -> bool:
        """True when the last good snapshot is too old to be shown, or when no poll has
        succeeded for `stale_after` since the target was configured."""
        if self.up:
            return False
        if self.snapshot is None:
            configured = self.configured_at
            return configured is not None and now - configured > self.stale_after
        return now - self.snapshot.taken_at > self.stale_after

    def seen_since(self, key: BrokenKey) -> float | None:
        """When the exporter first saw `key` broken (None: not broken in the last good poll)."""
        return self.first_seen.get(key)


def broken_key(entity: BrokenEntity) -> BrokenKey:
    """The identity of a broken entity in its current state."""
    return (entity.kind, entity.names, entity.state)


def detail_key(failure: DetailFailure) -> BrokenKey:
    """The identity of a failing detail call, in the same space as broken entities."""
    names = (("entity", failure.entity), ("call", failure.endpoint))
    return ("detail", names, failure.reason.value)


def _kept_entity(entity: BrokenEntity) -> BrokenEntity:
    if len(entity.error) <= MAX_TEXT_KEPT:
        return entity
    return msgspec.structs.replace(entity, error=entity.error[:MAX_TEXT_KEPT])


def _kept_failure(failure: DetailFailure) -> DetailFailure:
    if len(failure.message) <= MAX_TEXT_KEPT:
        return failure
    return msgspec.structs.replace(failure, message=failure.message[:MAX_TEXT_KEPT])


class Store:
    """Every target's state, the reload status and the unknown-value counters."""

    def __init__(self) -> None:
        self.version = 0
        self._targets: dict[str, TargetState] = {}
        self.unknown_values: Counter[tuple[str, str]] = Counter()
        self.reload_ok = True
        self.reload_at: float | None = None
        self.shard = Shard()

    @property
    def targets(self) -> Mapping[str, TargetState]:
        """Read-only view of the targets by name."""
        return MappingProxyType(self._targets)

    def _changed(self) -> None:
        self.version += 1

    def add(self, state: TargetState) -> None:
        """Start tracking a target (replacing any state under the same name)."""
        self._targets[state.name] = state
        self._changed()

    def remove(self, name: str) -> None:
        """Forget a target and its series."""
        if self._targets.pop(name, None) is not None:
            self._changed()

    def record_success(
        self,
        name: str,
        snapshot: Snapshot,
        unknown: list[tuple[str, str]],
        duration: float,
        detail_failures: tuple[DetailFailure, ...] = (),
        capabilities: Mapping[str, bool] | None = None,
        broken: tuple[BrokenEntity, ...] = (),
    ) -> None:
        """Swap in a new good snapshot, with the detail calls that failed in that poll and the
        entities that are not healthy."""
        state = self._targets.get(name)
        if state is None:
            return
        state.detail_failures = tuple(map(_kept_failure, detail_failures))
        state.broken = tuple(map(_kept_entity, broken[:MAX_BROKEN_KEPT]))
        state.broken_omitted = len(broken) - len(state.broken)
        keys = [*map(broken_key, state.broken), *map(detail_key, detail_failures)]
        state.first_seen = {k: state.first_seen.get(k, snapshot.taken_at) for k in keys}
        for failure in detail_failures:
            state.detail_errors_total[(failure.endpoint, failure.reason.value)] += 1
        if capabilities is not None:
            state.capabilities = MappingProxyType(dict(capabilities))
        state.snapshot = snapshot
        state.up = True
        state.last_success = state.last_poll_at = snapshot.taken_at
        state.last_duration = duration
        state.last_error_reason = state.last_error = None
        state.polls_total += 1
        state.dropped_total += snapshot.dropped
        state.consecutive_failures = 0
        for field_name, _value in unknown:
            key = (state.system, field_name)
            if key not in self.unknown_values and len(self.unknown_values) >= MAX_UNKNOWN_FIELDS:
                key = (state.system, OTHER_FIELD)
            self.unknown_values[key] += 1
        self._changed()

    def record_failure(
        self, name: str, reason: Reason, message: str, duration: float, now: float
    ) -> None:
        """Mark a failed poll; the last good snapshot stays until it is stale."""
        state = self._targets.get(name)
        if state is None:
            return
        state.up = False
        state.last_poll_at = now
        state.last_duration = duration
        state.last_error_reason = reason.value
        state.last_error = message[:MAX_TEXT_KEPT]
        state.polls_total += 1
        state.errors_total[reason.value] += 1
        state.consecutive_failures += 1
        self._changed()

    def record_schedule(self, name: str, next_poll_at: float, retry_after: float | None) -> None:
        """Remember when the target's next poll is due (shown, not exported: no version bump)."""
        state = self._targets.get(name)
        if state is not None:
            state.next_poll_at, state.retry_after = next_poll_at, retry_after

    def record_reload(self, ok: bool, now: float) -> None:
        """Remember the outcome of a config reload."""
        self.reload_ok = ok
        if ok:
            self.reload_at = now
        self._changed()

    def copy(self) -> Store:
        """A copy to read in another thread while this store changes on the event loop. Each
        target's state is copied field by field: the fields the status reads are replaced on
        change, never changed in place (the counters are, and are shared)."""
        copied = Store()
        copied.version = self.version
        copied._targets = {name: replace(state) for name, state in self._targets.items()}
        copied.reload_ok, copied.reload_at = self.reload_ok, self.reload_at
        copied.shard = self.shard
        return copied

    def ready(self) -> bool:
        """True once every target has finished at least one poll."""
        return all(state.polled for state in self._targets.values())
