"""What on-call needs to know, built from the store once per request for both the status page
(`/`) and the JSON API (`/api/v1/status`), so the two can never disagree.

Everything here is safe to show: upstream error texts are scrubbed of secrets and anything
credential-shaped (`scrub.scrub`) and cut to `MAX_ERROR_CHARS`; no URL or config value appears.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from dataflow_exporter import __version__, scrub
from dataflow_exporter.store import Store, TargetState, broken_key, detail_key

# Bumped when a field is removed or changes meaning; new fields may appear in any version.
API_VERSION = "1"
# Upstream error texts are kept whole up to this length (Feldera's run to 8 KiB).
MAX_ERROR_CHARS = 4000

Health = Literal["up", "degraded", "down", "pending"]
Data = Literal["current", "last_success", "withheld", "none"]


class ErrorView(msgspec.Struct, frozen=True):
    """Why the target's last poll failed."""

    reason: str
    message: str


class TargetView(msgspec.Struct, frozen=True):
    """One target's poll health."""

    name: str
    system: str
    # up; degraded (up, but holding broken entities); down; pending (no poll finished yet)
    health: Health
    stale: bool
    # current: from the last poll; last_success: the last good poll's, the target is down now;
    # withheld: too old, gone from /metrics; none: no poll has succeeded yet.
    data: Data
    last_success: float | None
    last_poll: float | None
    last_poll_duration_seconds: float
    last_error: ErrorView | None
    consecutive_failures: int
    backoff_factor: int
    retry_after_seconds: float | None
    next_poll: float | None
    series: int
    entities: dict[str, int]
    broken: int
    broken_omitted: int
    capability_gaps: list[str]


class BrokenView(msgspec.Struct, frozen=True):
    """One entity that is not healthy, in the upstream's own words."""

    system: str
    target: str
    kind: str
    names: dict[str, str]
    state: str
    error: str
    since: float | None
    # upstream: the upstream's own state-change time; exporter: when the exporter first saw it.
    since_source: Literal["upstream", "exporter"]
    # False when the target is down now: the entity was broken as of its last good poll.
    current: bool


class StatusView(msgspec.Struct, frozen=True):
    """The whole status: every target, and every broken entity across them."""

    api_version: str
    exporter_version: str
    generated_at: float
    config_reload_successful: bool
    targets: list[TargetView]
    broken: list[BrokenView]


def _health(state: TargetState) -> Health:
    if not state.polled:
        return "pending"
    if not state.up:
        return "down"
    return "degraded" if state.broken or state.detail_failures else "up"


def _data(state: TargetState, stale: bool) -> Data:
    if state.snapshot is None:
        return "none"
    if stale:
        return "withheld"
    return "current" if state.up else "last_success"


def attention_order(state: TargetState) -> tuple[int, str]:
    """Down targets first, then degraded, then pending, then the rest, each by name."""
    rank = {"down": 0, "degraded": 1, "pending": 2, "up": 3}[_health(state)]
    return rank, state.name


def _target(state: TargetState, now: float) -> TargetView:
    stale = state.stale(now)
    error = None
    if state.last_error_reason:
        error = ErrorView(state.last_error_reason, _shown(state.last_error or ""))
    return TargetView(
        name=state.name,
        system=state.system,
        health=_health(state),
        stale=stale,
        data=_data(state, stale),
        last_success=state.last_success,
        last_poll=state.last_poll_at,
        last_poll_duration_seconds=round(state.last_duration, 4),
        last_error=error,
        consecutive_failures=state.consecutive_failures,
        backoff_factor=state.backoff_factor,
        retry_after_seconds=state.retry_after,
        next_poll=state.next_poll_at,
        series=state.snapshot.series if state.snapshot is not None and not stale else 0,
        entities={_text(k): v for k, v in state.snapshot.entities.items()}
        if state.snapshot
        else {},
        broken=len(state.broken) + len(state.detail_failures),
        broken_omitted=state.broken_omitted,
        capability_gaps=[name for name, served in state.capabilities.items() if not served],
    )


def _broken(state: TargetState, stale: bool) -> list[BrokenView]:
    """The target's broken entities and failing detail calls (none once its data is stale)."""
    if stale:
        return []
    current = state.up
    views = []
    for entity in state.broken:
        upstream_since = entity.since is not None
        views.append(
            BrokenView(
                system=state.system,
                target=state.name,
                kind=entity.kind,
                names={label: _text(value) for label, value in entity.names},
                state=_text(entity.state),
                error=_shown(entity.error),
                since=entity.since if upstream_since else state.seen_since(broken_key(entity)),
                since_source="upstream" if upstream_since else "exporter",
                current=current,
            )
        )
    for failure in sorted(state.detail_failures, key=lambda f: (f.endpoint, f.entity)):
        views.append(
            BrokenView(
                system=state.system,
                target=state.name,
                kind="detail call",
                names={"entity": _text(failure.entity), "call": failure.endpoint},
                state=f"failing ({failure.reason.value})",
                error=_shown(failure.message),
                since=state.seen_since(detail_key(failure)),
                since_source="exporter",
                current=current,
            )
        )
    return views


def _text(text: str) -> str:
    """Upstream text as valid UTF-8: a lone surrogate (JSON allows `\\ud800`) becomes `?`."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _shown(text: str) -> str:
    """Upstream text as it may be shown: scrubbed, then cut (scrubbing first, so a cut never
    leaves half a credential unrecognised)."""
    text = scrub.scrub(_text(text))
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


# States the alert rules page for as critical: failed, unavailable, a fatal error.
_CRITICAL_WORDS = ("FAILED", "UNAVAILABLE", "FATAL")


def severity_order(view: BrokenView) -> int:
    """Critical first (failed, unavailable, fatal, a deployment error), then warnings, then
    failing detail calls; the sort is stable, so targets keep their order within each."""
    if view.kind == "detail call":
        return 2
    state = view.state.upper()
    if any(word in state for word in _CRITICAL_WORDS) or (view.kind == "pipeline" and view.error):
        return 0
    return 1


def status_view(store: Store, now: float) -> StatusView:
    """The status of every target, those needing attention first."""
    states = sorted(store.targets.values(), key=attention_order)
    targets = [_target(state, now) for state in states]
    broken = sorted(
        (
            view
            for state, target in zip(states, targets, strict=True)
            for view in _broken(state, target.stale)
        ),
        key=severity_order,
    )
    return StatusView(
        api_version=API_VERSION,
        exporter_version=__version__,
        generated_at=now,
        config_reload_successful=store.reload_ok,
        targets=targets,
        broken=broken,
    )
